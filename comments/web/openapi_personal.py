"""OpenAPI paths of personal data for admins (comments.web.erasure)."""

from __future__ import annotations

from typing import Any

from comments.web.openapi_console import AUTHOR, BEARER, SITE, _error, _ok

FAILS = {
    "400": _error("Body not a JSON object"),
    "401": _error("No valid moderator token"),
    "403": _error("Token of another site, or not a site-wide (unscoped) admin"),
    "404": _error("Unknown site or author"),
    "503": _error("Database unavailable"),
}
EXPORT = {
    "type": "object",
    "required": [
        "site",
        "author",
        "comments",
        "comment_versions",
        "reports_made",
        "ban_networks",
        "audit",
        "mail_subscriptions",
        "reactions_made",
        "mail_queue",
    ],
    "properties": {
        "site": {"type": "string"},
        "author": {"type": "object"},
        "comments": {"type": "array", "items": {"type": "object"}},
        "comment_versions": {"type": "array", "items": {"type": "object"}},
        "reports_made": {"type": "array", "items": {"type": "object"}},
        "ban_networks": {"type": "array", "items": {"type": "object"}},
        "audit": {"type": "array", "items": {"type": "object"}},
        "mail_subscriptions": {"type": "array", "items": {"type": "object"}},
        "reactions_made": {"type": "array", "items": {"type": "object"}},
        "mail_queue": {"type": "array", "items": {"type": "object"}},
    },
}
COUNTS = [
    "withdrawn",
    "removed",
    "comments_overwritten",
    "versions_deleted",
    "reports_anonymised",
    "networks_deleted",
    "audit_texts_cleared",
    "subscriptions_deleted",
    "likes_anonymised",
    "webhook_messages_redacted",
    "mails_removed",
]
ERASED = {
    "type": "object",
    "required": ["erased"],
    "properties": {
        "erased": {
            "type": "object",
            "required": ["site", "author", *COUNTS],
            "properties": {
                "site": {"type": "string"},
                "author": {"type": "string"},
                **{name: {"type": "integer", "minimum": 0} for name in COUNTS},
            },
        }
    },
}


def personal_paths() -> dict[str, Any]:
    return {
        "/api/v1/moderation/sites/{site}/authors/{author_id}/export": {
            "parameters": [SITE, AUTHOR],
            "get": {
                "summary": "Everything held about an author (unscoped admins; as `author export`)",
                "security": BEARER,
                "responses": {"200": _ok("The author's data", EXPORT), **FAILS},
            },
        },
        "/api/v1/moderation/sites/{site}/authors/{author_id}/erase": {
            "parameters": [SITE, AUTHOR],
            "post": {
                "summary": "Erase an author (unscoped admins; as `author erase`; idempotent)",
                "security": BEARER,
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _ok("What was erased (zeros when run again)", ERASED),
                    "413": _error("Body too large"),
                    "415": _error("Not JSON"),
                    **FAILS,
                },
            },
        },
    }
