"""Storage: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg), by URL."""

from comments.store import edit_tables as edit_tables  # registers its tables
from comments.store import hook_tables as hook_tables  # registers its tables
from comments.store import mail_tables as mail_tables  # registers its tables
from comments.store import reaction_tables as reaction_tables  # registers its tables
from comments.store import review_tables as review_tables  # registers its tables
from comments.store.store import (
    ArticleRow,
    EventRow,
    Page,
    Store,
    StoreUnavailable,
    create_store,
)

__all__ = ["ArticleRow", "EventRow", "Page", "Store", "StoreUnavailable", "create_store"]
