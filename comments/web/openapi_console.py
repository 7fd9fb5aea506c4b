"""OpenAPI paths of the console's reads (comments.web.mod_console, the queue's params)."""

from __future__ import annotations

from typing import Any

BEARER: list[dict[str, list[str]]] = [{"moderator": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SITE = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
AUTHOR = {"name": "author_id", "in": "path", "required": True, "schema": {"type": "string"}}
COMMENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
FAILS = {
    "401": _error("No valid moderator token"),
    "403": _error("Token of another site"),
    "404": _error("Unknown site, comment or author"),
    "422": _error("Bad parameter"),
    "503": _error("Database unavailable"),
}
AUTHOR_RECORD = {
    "type": "object",
    "required": ["author"],
    "properties": {
        "author": {
            "type": "object",
            "required": ["id", "name", "kind", "counts", "comments", "notes", "banned"],
        }
    },
}

QUEUE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {
        "name": "filter",
        "in": "query",
        "schema": {
            "type": "string",
            "enum": ["all", "held", "reported", "premoderated", "unscored"],
        },
    },
]


SEARCH_PARAMETERS: list[dict[str, Any]] = [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}},
    {"name": "author", "in": "query", "schema": {"type": "string", "maxLength": 200}},
    {"name": "article", "in": "query", "schema": {"type": "string", "maxLength": 200}},
    {
        "name": "status",
        "in": "query",
        "schema": {
            "type": "string",
            "enum": ["published", "held", "rejected", "deleted", "shadowed"],
        },
    },
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]


def console_paths() -> dict[str, Any]:
    return {
        "/api/v1/moderation/sites/{site}/comments": {
            "parameters": [SITE],
            "get": {
                "summary": "Search a site's comments (full text), newest first",
                "security": BEARER,
                "parameters": SEARCH_PARAMETERS,
                "responses": {
                    "200": _ok(
                        "A page of matching comments",
                        {
                            "type": "object",
                            "required": ["items", "next"],
                            "properties": {
                                "items": {"type": "array", "items": _ref("Item")},
                                "next": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    **FAILS,
                },
            },
        },
        "/api/v1/moderation/comments/{id}/context": {
            "parameters": [COMMENT_ID],
            "get": {
                "summary": "A comment's parent, the comments before it, its article's state",
                "security": BEARER,
                "responses": {
                    "200": _ok(
                        "The context",
                        {
                            "type": "object",
                            "required": ["comment", "parent", "before", "article"],
                            "properties": {
                                "comment": _ref("Item"),
                                "before": {"type": "array", "items": _ref("Item")},
                                "article": {"type": "object"},
                            },
                        },
                    ),
                    **FAILS,
                },
            },
        },
        "/api/v1/moderation/sites/{site}/authors/{author_id}": {
            "parameters": [SITE, AUTHOR],
            "get": {
                "summary": "The author panel: counts, last comments, notes, ban",
                "security": BEARER,
                "responses": {"200": _ok("The author", AUTHOR_RECORD), **FAILS},
            },
        },
        "/api/v1/moderation/sites/{site}/authors/{author_id}/notes": {
            "parameters": [SITE, AUTHOR],
            "post": {
                "summary": "Keep a note on an author (audited)",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["body"],
                                "properties": {
                                    "body": {"type": "string", "minLength": 1, "maxLength": 2000}
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _ok("The author with the note", AUTHOR_RECORD),
                    "415": _error("Not JSON"),
                    **FAILS,
                },
            },
        },
    }
