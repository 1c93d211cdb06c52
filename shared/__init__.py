"""What both the gateway and the sandbox executor import: wire models, validation, errors."""
