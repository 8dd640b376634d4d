"""The HTTP ingest gateway: Open Loyalty's API in front of the Kafka topics."""
