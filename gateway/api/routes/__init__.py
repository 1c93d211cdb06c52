"""One router per resource: sign-in, chats, queries, files, session state, tokens, health, web."""
