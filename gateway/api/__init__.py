"""HTTP: the routes (one router per resource), their dependencies and the request body limits.

The outermost layer: routes check who is calling and what they may touch, then hand the work to
the services in `gateway.chats`, `gateway.runs`, `gateway.agent` and `gateway.sandbox`. Nothing
below imports from here.
"""
