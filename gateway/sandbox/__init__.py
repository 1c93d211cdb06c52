"""Sandboxes and their files.

`manager` is the only Docker code; `executor` and `executor_socket` talk to a chat's executor
through its unix socket (and only its own); `state` holds a chat's variables, reset and uploads;
`files`, `folders`, `uploads` and `file_pool` read and change a chat's folders from the host by
descriptor, never by a path the sandbox could change (README, "What the gateway trusts").
"""
