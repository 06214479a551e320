"""Call records, per-turn latency, webhook events and the cost of calls."""
