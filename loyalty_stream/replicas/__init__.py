"""In-memory copies of compacted topics, kept current by a consumer thread: the control plane (stores'
schemas, achievements, subscriptions), the member directory and the achievement catalog."""
