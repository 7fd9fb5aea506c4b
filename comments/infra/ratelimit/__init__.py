"""Rate limits: a sliding window per key, shared through Redis or kept in memory."""

from comments.infra.ratelimit.base import RateLimiter, create_limiter, retry_after

__all__ = ["RateLimiter", "create_limiter", "retry_after"]
