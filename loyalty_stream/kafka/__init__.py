"""Kafka plumbing shared by the services: clients, the awaitable producer, topic names, record keys,
readiness checks and the consumer thread behind every in-memory copy of a topic."""
