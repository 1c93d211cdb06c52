"""The HTTP gateway: API, auth, chat store and the sandbox manager."""
