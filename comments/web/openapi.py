"""The OpenAPI 3.1 document of the HTTP API, served at ``/openapi.json``.

Written out rather than derived from the routes: the contract (docs/api.md) is the source of
truth, and this mirrors it for client generators and for schemathesis.
"""

from __future__ import annotations

from typing import Any

from comments.models import ARTICLE_MAX, AUTHOR_NAME_MAX, BODY_MAX, SEQ_MAX
from comments.web.openapi_console import QUEUE_PARAMETERS, console_paths
from comments.web.openapi_mail import mail_paths
from comments.web.openapi_personal import personal_paths


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


SITE = {
    "name": "site",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
}
ARTICLE = {
    "name": "article",
    "in": "path",
    "required": True,
    "description": "The partner's article id, percent-encoded; slashes are allowed.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": ARTICLE_MAX,
        "pattern": "^[^\\u0000]*$",
    },
}
# The same id where it is a query parameter (counts, config).
ARTICLE_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": ARTICLE_MAX,
    "pattern": "^[^\\u0000]*$",
}
SEQ = {"type": "integer", "minimum": 0, "maximum": SEQ_MAX}
COMMENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
BEARER: list[dict[str, list[str]]] = [{"moderator": []}]
ERRORS = {
    "400": _error("Unparseable body"),
    "404": _error("Unknown site or resource"),
    "413": _error("Request over 64 KB"),
    "422": _error("Invalid input"),
    "503": _error("Storage unavailable (with Retry-After)"),
}
# Every moderation call checks the token first, then the site it names.
MOD_ERRORS = {"401": _error("No valid moderator token"), "403": _error("Token of another site")}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Author": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
    },
    "Comment": {
        "type": "object",
        "required": [
            "id",
            "site",
            "article",
            "parent",
            "author",
            "body",
            "status",
            "seq",
            "created_at",
        ],
        "properties": {
            "id": {"type": "string"},
            "site": {"type": "string"},
            "article": {"type": "string"},
            "parent": {"type": ["string", "null"]},
            "author": _ref("Author"),
            "body": {"type": "string"},
            "status": {"type": "string", "enum": ["published", "held", "rejected"]},
            "seq": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "edited_at": {"type": "string", "format": "date-time"},
            "reactions": {"type": "integer", "minimum": 0},
            "reacted": {
                "type": "boolean",
                "description": "whether the reader the request names likes it (thread, "
                "top and context answers to a request with an identity only)",
            },
        },
    },
    "Tombstone": {
        "type": "object",
        "description": "A removed comment that published replies answer: no body, no author.",
        "required": ["id", "parent", "tombstone", "status", "author", "body", "seq"],
        "properties": {
            "id": {"type": "string"},
            "site": {"type": "string"},
            "article": {"type": "string"},
            "parent": {"type": ["string", "null"]},
            "tombstone": {"const": True},
            "status": {"const": "removed"},
            "author": {"type": "null"},
            "body": {"type": "null"},
            "seq": {"type": ["integer", "null"]},
        },
    },
    "Item": {
        "allOf": [
            _ref("Comment"),
            {
                "type": "object",
                "required": ["scores", "reasons", "reports"],
                "properties": {
                    "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "reports": {"type": "integer"},
                    "article_title": {"type": ["string", "null"]},
                    "article_url": {"type": ["string", "null"]},
                },
            },
        ]
    },
    "NewComment": {
        "type": "object",
        "required": ["body"],
        "properties": {
            "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX},
            "parent": {"type": ["string", "null"]},
            "author_name": {"type": "string", "minLength": 1, "maxLength": AUTHOR_NAME_MAX},
            "article_title": {
                "description": "the page's title; kept for an article that has none, when "
                "article_url is on one of the site's origins",
                "type": ["string", "null"],
                "maxLength": 300,
            },
            "article_url": {
                "description": "the page's canonical http(s) URL",
                "type": ["string", "null"],
                "maxLength": 2000,
            },
        },
    },
    "CommentEnvelope": {
        "type": "object",
        "required": ["comment"],
        "properties": {"comment": _ref("Comment"), "guest_token": {"type": "string"}},
    },
}


# Cached anonymous reads (comments/web/cached_reads.py) answer If-None-Match.
NOT_MODIFIED = {"description": "Not modified since the ETag sent (anonymous reads)"}


def _asset(summary: str, media_type: str, *, etag: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "The file", "content": {media_type: {}}}}
    if etag:
        responses["304"] = {"description": "Not modified since the ETag sent"}
    responses["404"] = _error("No such file")
    return {"get": {"summary": summary, "responses": responses}}


# Pages and scripts, served from the package: the widget, the console and the demo.
ASSETS: dict[str, Any] = {
    "/embed.js": _asset("The comment widget (one script tag on a partner page)", "text/javascript"),
    "/count.js": _asset("Comment counts for article listings", "text/javascript"),
    "/static/{path}": {
        "parameters": [
            {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        **_asset("The console's and the demo's scripts and styles", "application/octet-stream"),
    },
    "/moderation": _asset("The moderator console", "text/html", etag=False),
    "/demo": _asset(
        "The demo article with the widget (comments demo only)", "text/html", etag=False
    ),
}


def _feed(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """An Atom feed (comments/web/feeds.py): 200 with an ETag, 304 on If-None-Match."""
    return {
        "parameters": parameters,
        "get": {
            "summary": summary,
            "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "Atom 1.0: the latest 50 published comments",
                    "content": {"application/atom+xml": {}},
                },
                "304": {"description": "Not modified since the ETag sent"},
                "404": _error("Unknown site"),
                "422": _error("Invalid article id"),
            },
        },
    }


def document() -> dict[str, Any]:
    comments_path = {
        "parameters": [SITE, ARTICLE],
        "get": {
            "summary": "Published comments of an article, by keyset on seq",
            "parameters": [
                {
                    "name": "order",
                    "in": "query",
                    "schema": {"enum": ["oldest", "newest", "top"]},
                },
                {"name": "after", "in": "query", "schema": SEQ},
                # order=top's keyset cursor: a previous page's next, "{reactions}.{seq}".
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "before", "in": "query", "schema": SEQ},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["comments", "next", "latest_seq"],
                        "properties": {
                            "comments": {
                                "type": "array",
                                "items": {"anyOf": [_ref("Comment"), _ref("Tombstone")]},
                            },
                            "next": {"type": ["integer", "string", "null"]},
                            "latest_seq": {"type": "integer"},
                        },
                    },
                    "A page of comments",
                ),
                "304": NOT_MODIFIED,
                **ERRORS,
            },
        },
        "post": {
            "summary": "Post a comment (SSO bearer token or guest)",
            "parameters": [
                {"name": "X-Comments-Guest", "in": "header", "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("NewComment")}},
            },
            "responses": {
                "201": _json(_ref("CommentEnvelope"), "Published"),
                "202": _json(_ref("CommentEnvelope"), "Held for a moderator"),
                "401": _error("No identity, or guests off"),
                "403": _error("Banned author, closed article, or quiet hours (with reopens_at)"),
                "409": _error("Duplicate"),
                "429": _error("Rate limited"),
                **ERRORS,
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "comments",
            "version": "1",
            "description": "Self-hosted real-time comments with moderation. WebSocket "
            "streams (/ws/v1/…) are described in docs/api.md.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "moderator": {"type": "http", "scheme": "bearer"},
                "sso": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "paths": {
            **ASSETS,
            **_webhook_paths(),
            **mail_paths(),
            "/feeds/sites/{site}.atom": _feed("A site's latest comments, as Atom", [SITE]),
            "/feeds/sites/{site}/articles/{article}.atom": _feed(
                "An article's latest comments, as Atom", [SITE, ARTICLE]
            ),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1, as JSON"}},
                }
            },
            "/healthz": {"get": {"responses": {"200": {"description": "Serving"}}}},
            "/readyz": {
                "get": {
                    "responses": {
                        "200": {"description": "Database and broker usable"},
                        "503": {"description": "Not ready"},
                    }
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics, for COMMENTS_METRICS_ALLOW addresses only",
                    "responses": {
                        "200": {
                            "description": "Text exposition format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "403": _error("Not an allowed address"),
                    },
                }
            },
            "/api/v1/sites/{site}/articles/{article}/comments": comments_path,
            "/api/v1/sites/{site}/articles/{article}/comments/{id}": {
                "parameters": [SITE, ARTICLE, COMMENT_ID],
                "delete": {
                    "summary": "Delete one's own comment",
                    "parameters": [
                        {"name": "X-Comments-Guest", "in": "header", "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["id", "deleted"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "deleted": {"const": True},
                                },
                            },
                            "Deleted",
                        ),
                        "401": _error("No identity"),
                        "403": _error("Not the author"),
                        **ERRORS,
                    },
                },
                "patch": _edit_operation(),
            },
            **_thread_paths(),
            **_reaction_paths(),
            **_roles_paths(),
            **console_paths(),
            **personal_paths(),
            "/api/v1/sites/{site}/articles/{article}/comments/{id}/report": {
                "parameters": [SITE, ARTICLE, COMMENT_ID],
                "post": {
                    "summary": "Report a published comment",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"reason": {"type": "string", "maxLength": 500}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "202": {"description": "Recorded"},
                        "401": _error("A sign-in or guest token that is not valid"),
                        "429": _error("Rate limited"),
                        **ERRORS,
                    },
                },
            },
            "/api/v1/sites/{site}/counts": {
                "parameters": [SITE],
                "get": {
                    "parameters": [
                        {
                            "name": "article",
                            "in": "query",
                            "schema": {"type": "array", "items": ARTICLE_ID, "maxItems": 100},
                            "style": "form",
                            "explode": True,
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "counts": {
                                        "type": "object",
                                        "additionalProperties": {"type": "integer"},
                                    }
                                },
                            },
                            "Published comments per article",
                        ),
                        "304": NOT_MODIFIED,
                        **ERRORS,
                    },
                },
            },
            "/api/v1/sites/{site}/config": {
                "parameters": [SITE],
                "get": {
                    "summary": "What the widget needs to know of a site (never secrets)",
                    "parameters": [{"name": "article", "in": "query", "schema": ARTICLE_ID}],
                    "responses": {"200": {"description": "Site options"}, **ERRORS},
                },
            },
            "/api/v1/moderation/me": {
                "get": {
                    "security": BEARER,
                    "responses": {
                        "200": {"description": "The token's site and moderator name"},
                        "401": _error("No valid token"),
                    },
                }
            },
            "/api/v1/moderation/tickets": {
                "post": {
                    "security": BEARER,
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"ticket": {"type": "string"}}},
                            "A single-use socket ticket, valid 30 s",
                        ),
                        "401": _error("No valid token"),
                    },
                }
            },
            "/api/v1/moderation/sites/{site}/queue": {
                "parameters": [SITE],
                "get": {
                    "security": BEARER,
                    "parameters": QUEUE_PARAMETERS,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ref("Item")},
                                    "next": {"type": ["string", "null"]},
                                    "counts": {
                                        "type": "object",
                                        "additionalProperties": {"type": "integer"},
                                    },
                                },
                            },
                            "Held and reported comments, riskiest first",
                        ),
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
            },
            **{
                f"/api/v1/moderation/comments/{{id}}/{action}": {
                    "parameters": [COMMENT_ID],
                    "post": {
                        "security": BEARER,
                        "requestBody": EXPECTED_STATUS_BODY,
                        "responses": {
                            "200": _json(
                                {"type": "object", "properties": {"comment": _ref("Comment")}},
                                f"The comment after {action}",
                            ),
                            **MOD_ERRORS,
                            "404": _error("Unknown comment"),
                            "409": _error(
                                "Already decided, or not in expected_status (with the comment)"
                            ),
                            "503": ERRORS["503"],
                        },
                    },
                }
                for action in ("approve", "reject")
            },
            "/api/v1/moderation/sites/{site}/authors/{author_id}/ban": {
                "parameters": [
                    SITE,
                    {
                        "name": "author_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "post": {
                    "security": BEARER,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "reason": {"type": "string", "maxLength": 1000},
                                        "until": {
                                            "description": "ISO 8601 with a time zone, "
                                            "Unix seconds, or null (for ever)",
                                            "anyOf": [
                                                {"type": "string", "format": "date-time"},
                                                {"type": "number"},
                                                {"type": "null"},
                                            ],
                                        },
                                        "scope": {
                                            "description": "author+network also refuses new "
                                            "guest identities from the networks (IPv4 "
                                            "address, IPv6 /64) the author posted from; "
                                            "default author+network for guests, author for "
                                            "signed-in readers",
                                            "enum": ["author", "author+network"],
                                        },
                                        "shadow": {
                                            "description": "the author's new comments are "
                                            "answered and shown to them alone as published",
                                            "type": "boolean",
                                            "default": False,
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Banned (replaces any earlier ban)"},
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
                "delete": {
                    "security": BEARER,
                    "responses": {
                        "200": {"description": "Unbanned; the ban's network keys are deleted"},
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
            },
            "/api/v1/moderation/sites/{site}/bans": {
                "parameters": [SITE],
                "get": {
                    "security": BEARER,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "bans": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "author": {"type": "string"},
                                                "name": {"type": "string"},
                                                "scope": {"enum": ["author", "author+network"]},
                                                "shadow": {"type": "boolean"},
                                                "until": {
                                                    "type": ["string", "null"],
                                                    "format": "date-time",
                                                },
                                                "reason": {"type": "string"},
                                                "by": {"type": ["string", "null"]},
                                                "at": {
                                                    "type": ["string", "null"],
                                                    "format": "date-time",
                                                },
                                            },
                                        },
                                    }
                                },
                            },
                            "The site's active bans, newest first",
                        ),
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
            },
            "/api/v1/moderation/sites/{site}/articles/{article}": {
                "parameters": [SITE, ARTICLE],
                "patch": {
                    "security": BEARER,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "closed": {"type": "boolean"},
                                        "premoderated": {"type": "boolean"},
                                        "title": {"type": ["string", "null"], "maxLength": 300},
                                        "url": {
                                            "type": ["string", "null"],
                                            "maxLength": 2000,
                                            "description": "an http(s) URL",
                                        },
                                    },
                                    "anyOf": [
                                        {"required": ["closed"]},
                                        {"required": ["premoderated"]},
                                        {"required": ["title"]},
                                        {"required": ["url"]},
                                    ],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "The article's state"},
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
            },
            "/api/v1/moderation/sites/{site}/audit": {
                "parameters": [SITE],
                "get": {
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1},
                        },
                    ],
                    "responses": {
                        "200": {"description": "Audit entries, newest first"},
                        **MOD_ERRORS,
                        **ERRORS,
                    },
                },
            },
        },
    }


def _edit_operation() -> dict[str, Any]:
    """``PATCH …/comments/{id}``: the author's edit (docs/api.md, "Editing")."""
    return {
        "summary": "Edit one's own comment within the site's edit window",
        "parameters": [{"name": "X-Comments-Guest", "in": "header", "schema": {"type": "string"}}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["body"],
                        "properties": {
                            "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX}
                        },
                    }
                }
            },
        },
        "responses": {
            "200": _json(_ref("CommentEnvelope"), "Edited (still published)"),
            "202": _json(_ref("CommentEnvelope"), "Edited and held for a moderator"),
            "401": _error("No identity"),
            "403": _error("Not the author, edit window closed, or banned"),
            "409": _error("Not published (held, rejected) or changed meanwhile"),
            "415": _error("Not JSON"),
            "429": _error("Rate limited"),
            **ERRORS,
        },
    }


def _thread_paths() -> dict[str, Any]:
    """Permalinks' context and moderators' view of a comment's earlier texts."""
    comments_list = {"type": "array", "items": {"anyOf": [_ref("Comment"), _ref("Tombstone")]}}
    return {
        "/api/v1/sites/{site}/articles/{article}/comments/{id}/context": {
            "parameters": [SITE, ARTICLE, COMMENT_ID],
            "get": {
                "summary": "A published comment with its neighbours (permalinks)",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "Neighbours each side, at most 100 (default 20)",
                    }
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["comment", "before", "after", "cursors", "latest_seq"],
                            "properties": {
                                "comment": _ref("Comment"),
                                "before": comments_list,
                                "after": comments_list,
                                "cursors": {
                                    "type": "object",
                                    "required": ["before", "after"],
                                    "properties": {
                                        "before": {"type": ["integer", "null"]},
                                        "after": {"type": ["integer", "null"]},
                                    },
                                },
                                "latest_seq": {"type": "integer"},
                            },
                        },
                        "The comment and its neighbours, oldest first",
                    ),
                    **ERRORS,
                },
            },
        },
        "/api/v1/moderation/comments/{id}/versions": {
            "parameters": [COMMENT_ID],
            "get": {
                "summary": "A comment's earlier texts, oldest first",
                "security": BEARER,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["comment", "versions"],
                            "properties": {
                                "comment": _ref("Item"),
                                "versions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["body", "written_at", "replaced_at"],
                                        "properties": {
                                            "body": {"type": "string"},
                                            "written_at": {"type": "string"},
                                            "replaced_at": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                        "The comment as moderators see it and its earlier texts",
                    ),
                    **MOD_ERRORS,
                    **ERRORS,
                },
            },
        },
    }


EXPECTED_STATUS_BODY: dict[str, Any] = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "expected_status": {
                        "description": "the status the moderator saw: with it, any "
                        "moderator of the site may reverse another's decision while the "
                        "comment is still so (409 otherwise)",
                        "enum": ["held", "published", "rejected", None],
                    }
                },
            }
        }
    },
}


def _roles_paths() -> dict[str, Any]:
    """Site settings for admins (docs/api.md, "Site settings")."""
    settings = {
        "type": "object",
        "description": "the site's settings, as `comments site set` takes them, typed; "
        "SSO secrets are never shown nor changed here",
        "properties": {
            "origins": {"type": "array", "items": {"type": "string"}},
            "guests": {"type": "boolean"},
            "thresholds": {
                "type": "object",
                "additionalProperties": {"anyOf": [{"type": "number"}, {"const": "off"}]},
            },
            "banned_words": {"type": "array", "items": {"type": "string"}},
            "suspect_words": {"type": "array", "items": {"type": "string"}},
            "suspect_phrases": {"type": "array", "items": {"type": "string"}},
            "premoderated": {"type": "boolean"},
            "premoderate_new_authors": {"type": "boolean"},
            "hold_links_from_new_authors": {"type": "boolean"},
            "reports_before_review": {"type": "integer", "minimum": 0},
            "posts_per_minute_per_author": {"type": "integer", "minimum": 0},
            "posts_per_minute_per_ip": {"type": "integer", "minimum": 0},
            "likes_per_minute_per_reader": {"type": "integer", "minimum": 0},
            "likes_per_minute_per_ip": {"type": "integer", "minimum": 0},
            "live_insert": {"type": "boolean"},
            "edit_window_s": {"type": "integer", "minimum": 0},
            "reply_depth": {"type": "integer", "minimum": 1, "maximum": 10},
            "default_order": {"enum": ["newest", "oldest", "top"]},
            "quiet_hours": {
                "type": ["object", "null"],
                "properties": {
                    "timezone": {"type": "string"},
                    "windows": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "days": {
                                    "type": "array",
                                    "items": {
                                        "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                                    },
                                },
                                "start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                                "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                            },
                        },
                    },
                },
            },
        },
    }
    answer = _json(
        {
            "type": "object",
            "properties": {
                "site": {"type": "string"},
                "settings": {
                    "allOf": [
                        settings,
                        {"properties": {"sso_configured": {"type": "boolean"}}},
                    ]
                },
            },
        },
        "The site's settings (no secrets)",
    )
    forbidden = {"403": _error("Token of another site, or not an admin")}
    return {
        "/api/v1/moderation/sites/{site}/settings": {
            "parameters": [SITE],
            "get": {
                "security": BEARER,
                "responses": {"200": answer, **MOD_ERRORS, **forbidden, **ERRORS},
            },
            "patch": {
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": settings}},
                },
                "responses": {
                    "200": answer,
                    **MOD_ERRORS,
                    **forbidden,
                    **ERRORS,
                    "422": _error("A setting `comments site set` would refuse (nothing changed)"),
                },
            },
        }
    }


def _reaction_paths() -> dict[str, Any]:
    """Likes (docs/api.md, "Reactions")."""
    answer = _json(
        {
            "type": "object",
            "required": ["reactions", "reacted"],
            "properties": {
                "reactions": {"type": "integer", "minimum": 0},
                "reacted": {"type": "boolean"},
            },
        },
        "The comment's count as this reader sees it, and whether they like it",
    )
    guest = {"name": "X-Comments-Guest", "in": "header", "schema": {"type": "string"}}

    def operation(summary: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "parameters": [guest],
            "responses": {
                "200": answer,
                "401": _error("No identity"),
                "403": _error("Banned, or origin not allowed"),
                "404": _error("No such published comment"),
                **ERRORS,
            },
        }

    return {
        "/api/v1/sites/{site}/articles/{article}/comments/{id}/reaction": {
            "parameters": [SITE, ARTICLE, COMMENT_ID],
            "put": operation("Like a comment (idempotent)"),
            "delete": operation("Stop liking a comment (idempotent)"),
        }
    }


def _webhook_paths() -> dict[str, Any]:
    """A site's webhooks and delivery log, for its moderators (read only)."""
    hook = {
        "type": "object",
        "required": ["id", "site", "url", "events"],
        "properties": {
            "id": {"type": "integer"},
            "site": {"type": "string"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}},
            "rotating_until": {"type": ["string", "null"]},
        },
    }
    delivery = {
        "type": "object",
        "required": ["id", "event", "status", "attempts"],
        "properties": {
            "id": {"type": "string"},
            "event": {"type": "string"},
            "order_key": {"type": "string"},
            "status": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "last_status": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "created_at": {"type": "string"},
            "next_attempt_at": {"type": ["string", "null"]},
            "done_at": {"type": ["string", "null"]},
        },
    }
    hook_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    limit = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    }
    return {
        "/api/v1/moderation/sites/{site}/webhooks": {
            "parameters": [SITE],
            "get": {
                "summary": "The site's webhooks (never their secrets)",
                "security": BEARER,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"webhooks": {"type": "array", "items": hook}},
                        },
                        "The webhooks",
                    ),
                    **MOD_ERRORS,
                    **ERRORS,
                },
            },
        },
        "/api/v1/moderation/sites/{site}/webhooks/{id}/deliveries": {
            "parameters": [SITE, hook_id],
            "get": {
                "summary": "A webhook's latest deliveries, newest first",
                "security": BEARER,
                "parameters": [limit],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "webhook": hook,
                                "deliveries": {"type": "array", "items": delivery},
                            },
                        },
                        "The delivery log",
                    ),
                    **MOD_ERRORS,
                    **ERRORS,
                },
            },
        },
    }
