"""The executor that runs inside each chat's sandbox: an HTTP server on a unix socket plus a kernel
child process that holds the chat's Python namespace."""
