"""The HTTP and WebSocket API (Starlette): routes per area, errors, identity, CORS."""
