"""Moderation: the pure policy and the use cases that post, decide and review comments."""
