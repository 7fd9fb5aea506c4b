"""Connections to the outside: the pub/sub broker, rate limits, the Redis client."""
