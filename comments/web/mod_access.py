"""Roles, scopes and expected statuses at the moderation API's edge (docs/api.md,
"Roles and scopes")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from comments.live.feed import Admit
from comments.store.review import Moderator
from comments.store.roles import author_in_scopes
from comments.web.common import node_of, parse_json_object, read_body
from comments.web.errors import ApiError

EXPECTED = ("held", "published", "rejected")


async def expected_status(request: Request) -> str | None:
    """The optional ``{"expected_status": …}`` of an approve or reject; None without a
    body (today's rule: another moderator's decision is a 409).

    Raises:
        ApiError: 400 for a body that is not a JSON object, 422 for a bad status.
    """
    raw = await read_body(request)
    if not raw.strip():
        return None
    data = parse_json_object(raw)
    expected = data.get("expected_status")
    if expected is not None and expected not in EXPECTED:
        raise ApiError(
            422, "invalid_body", "expected_status is 'held', 'published', 'rejected' or null"
        )
    return expected


def require_admin(moderator: Moderator) -> None:
    """Raises: ApiError 403 for a moderator who is not an admin of the site."""
    if not moderator.is_admin:
        raise ApiError(403, "forbidden", "only a site's admins change its settings")


def require_site_wide_admin(moderator: Moderator) -> None:
    """An author's export and erasure span every section they wrote in, so a scoped
    admin would read or destroy comments outside their sections: site-wide admins only.

    Raises:
        ApiError: 403.
    """
    require_admin(moderator)
    if moderator.scopes:
        raise ApiError(
            403, "forbidden", "only a site-wide admin (without scopes) exports or erases an author"
        )


async def require_author_in_scope(request: Request, moderator: Moderator, author_id: str) -> None:
    """A scoped moderator bans only authors who commented in their sections.

    Raises:
        ApiError: 403.
    """
    if not moderator.scopes:
        return
    store = node_of(request).store
    if not await author_in_scopes(store, moderator.site, author_id, moderator.scopes):
        raise ApiError(403, "forbidden", "this author has no comments in your sections")


def feed_filter(moderator: Moderator) -> Admit | None:
    """Which moderation-feed events a moderator's socket gets: with scopes, only the
    queue items of their sections (removals carry no article, and reveal nothing)."""
    if not moderator.scopes:
        return None

    def admit(event: dict[str, Any]) -> bool:
        if event.get("type") != "queue.added":
            return True
        article = event.get("item", {}).get("article")
        return isinstance(article, str) and moderator.may_act(article)

    return admit


def visible_entries(moderator: Moderator, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit entries a moderator may see: all, without scopes; with scopes, those on
    articles of their sections (decisions name their article), and their own."""
    if not moderator.scopes:
        return entries
    shown = []
    for entry in entries:
        kind, _, key = str(entry.get("target", "")).partition(":")
        detail = entry.get("detail")
        article = detail.get("article") if isinstance(detail, dict) else None
        if kind == "article":
            article = key
        if entry.get("moderator") == moderator.name or (
            isinstance(article, str) and moderator.may_act(article)
        ):
            shown.append(entry)
    return shown
