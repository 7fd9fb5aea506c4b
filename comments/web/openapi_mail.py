"""The reply e-mail endpoints' part of the OpenAPI document (comments/web/mail.py)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
SITE = {
    "name": "site",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
}
TOKEN = {
    "name": "token",
    "in": "query",
    "required": True,
    "description": "The signed token of the link in the mail.",
    "schema": {"type": "string", "maxLength": 2000},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {}}}


OFF = _error("Unknown site, or mail_off: the server sends no e-mails")
BAD_TOKEN = _error("invalid_link: a link that is not genuine (or expired)")


def mail_paths() -> dict[str, Any]:
    answer = {
        "type": "object",
        "required": ["subscribed", "confirmation_sent"],
        "properties": {
            "subscribed": {"type": "boolean"},
            "confirmation_sent": {"type": "boolean"},
        },
    }
    return {
        "/api/v1/sites/{site}/mail/subscribe": {
            "parameters": [SITE],
            "post": {
                "summary": "E-mail me replies: opt in (guests confirm by a mailed link)",
                "description": "Needs the reader's guest token (X-Comments-Guest) or SSO "
                "token. An SSO token with an `email` claim subscribes at once; otherwise a "
                "confirmation mail is sent to `email`.",
                "parameters": [
                    {"name": "X-Comments-Guest", "in": "header", "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"email": {"type": "string", "maxLength": 254}},
                            }
                        }
                    }
                },
                "responses": {
                    "200": {
                        "description": "Subscribed (SSO email claim)",
                        "content": {"application/json": {"schema": answer}},
                    },
                    "202": {
                        "description": "Confirmation mail sent",
                        "content": {"application/json": {"schema": answer}},
                    },
                    "400": _error("Unparseable body"),
                    "401": _error("No valid guest or sign-in token"),
                    "403": _error("Origin not allowed"),
                    "404": OFF,
                    "413": _error("Request over 64 KB"),
                    "415": _error("Not JSON"),
                    "422": _error("invalid_email"),
                    "429": _error("Too many confirmation mails (Retry-After)"),
                    "503": _error("The mail server or storage is unavailable (Retry-After)"),
                },
            },
        },
        "/api/v1/mail/confirm": {
            "get": {
                "summary": "Confirm a guest's address (the link of the confirmation mail)",
                "parameters": [TOKEN],
                "responses": {
                    "200": _page("Subscribed"),
                    "400": BAD_TOKEN,
                    "404": OFF,
                    "503": _error("Storage unavailable"),
                },
            }
        },
        "/api/v1/mail/unsubscribe": {
            "parameters": [TOKEN],
            "get": {
                "summary": "A page with one button to stop reply e-mails",
                "responses": {"200": _page("The page"), "400": BAD_TOKEN, "404": OFF},
            },
            "post": {
                "summary": "Stop reply e-mails (RFC 8058 one-click; any body)",
                "requestBody": {
                    "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
                },
                "responses": {
                    "200": {
                        "description": "Unsubscribed (an HTML page when Accept asks for one)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"unsubscribed": {"type": "boolean"}},
                                }
                            },
                            "text/html": {},
                        },
                    },
                    "400": BAD_TOKEN,
                    "404": OFF,
                    "413": _error("Request over 64 KB"),
                    "503": _error("Storage unavailable"),
                },
            },
        },
    }
