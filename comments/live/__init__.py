"""Live delivery: per-article channels and their sockets, frames built once, the
moderators' live queue."""
