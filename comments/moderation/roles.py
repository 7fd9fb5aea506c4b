"""Who may do what among a site's moderators: roles and section scopes (pure).

A moderator has a role, ``moderator`` or ``admin`` (admins also change the site's
settings), and scopes: article-key prefixes such as ``"sport/"``. A moderator with scopes
sees and acts only on articles whose key starts with one of them; no scopes is the whole
site. The SQL side of the same rule is ``comments.store.roles.scope_clause``.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLE_MODERATOR = "moderator"
ROLE_ADMIN = "admin"
ROLES = (ROLE_MODERATOR, ROLE_ADMIN)
SCOPE_MAX = 200  # an article key is at most 200 characters
SCOPES_MAX = 50


def may_act(scopes: Iterable[str], article_key: str) -> bool:
    """May a moderator with these scopes see and act on the article ``article_key``?"""
    found = tuple(scopes)
    return not found or any(article_key.startswith(prefix) for prefix in found)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, validated and deduplicated in order.

    Raises:
        ValueError: a scope is empty, too long or unprintable, or there are too many.
    """
    found: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not 1 <= len(scope) <= SCOPE_MAX:
            raise ValueError(f"a scope is an article-key prefix of 1 to {SCOPE_MAX} characters")
        if not scope.isprintable():
            raise ValueError("a scope has printable characters only")
        if scope not in found:
            found.append(scope)
    if len(found) > SCOPES_MAX:
        raise ValueError(f"at most {SCOPES_MAX} scopes")
    return tuple(found)


def check_role(role: str) -> str:
    """Raises: ValueError for a role that is neither ``moderator`` nor ``admin``."""
    if role not in ROLES:
        raise ValueError("a role is 'moderator' or 'admin'")
    return role
