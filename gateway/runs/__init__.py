"""Runs: code sent to a chat's sandbox, journaled in its history, with the reply built from the
executor's events. The agent's steps run through here too."""
