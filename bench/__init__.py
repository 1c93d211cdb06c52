"""`make bench`: latency of the gateway with real Redis, Docker and sandboxes."""
