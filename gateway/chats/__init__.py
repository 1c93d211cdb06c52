"""Chats and their history: the Redis store of users' chats, the query lock and the journal."""
