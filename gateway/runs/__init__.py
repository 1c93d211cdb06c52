"""Runs: `lifecycle` journals every run (a code run or an agent query) in the chat's history and
finishes it however it ends; `code` sends code to a chat's sandbox and builds the reply from the
executor's events. The agent's steps run through here too."""
