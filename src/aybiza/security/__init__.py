"""Tenants' credentials: API keys and scopes, sealed secrets, webhook signatures."""
