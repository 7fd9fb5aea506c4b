"""Everything that touches uvicorn: the config builder and our protocol subclasses."""
