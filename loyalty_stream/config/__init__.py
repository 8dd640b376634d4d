"""Configuration: the one settings object (``LOYALTY_*``), structured logs, the webhook destination policy."""
