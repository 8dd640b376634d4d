"""One router per Open Loyalty resource."""
