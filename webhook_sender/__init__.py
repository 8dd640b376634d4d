"""The webhook sender: delivers Open Loyalty webhook envelopes from the webhooks topic to subscribers."""
