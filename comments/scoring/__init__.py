"""Scoring: the classifiers, the node's scorer, and the Redis Stream to ``comments worker``."""
