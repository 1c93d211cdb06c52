"""Sign-in: who is calling (sessions, API tokens, the local user), who may sign in, and GitHub.

`authenticator` decides; `github` is the only code that talks to GitHub; `sign_in_sessions`,
`tokens` and `users` are their Redis stores.
"""
