"""Integrations: webhooks (and their delivery) for the sites' own systems."""
