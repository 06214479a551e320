"""Business rules between the HTTP layer and the store: agents, numbers, calls, tenants,
webhooks."""
