"""Reader identity: SSO JWTs signed by the partner site, or server-issued guest tokens."""

from __future__ import annotations

import time
from typing import Any

import jwt

from comments.models import AUTHOR_NAME_MAX, Author
from comments.sites import Site
from comments.web.errors import ApiError
from comments.web.hygiene import clean_name, visible

# Partner servers' clocks drift; a few seconds of leeway avoids refusing fresh tokens.
SSO_LEEWAY_S = 30


def sso_author_id(site: str, sub: str) -> str:
    return f"{site}:{sub}"


def verify_sso(site: Site, token: str, *, max_ttl_s: int = 0) -> Author:
    """The author a partner's HS256 JWT names.

    ``max_ttl_s``: refuse a token whose ``exp`` is further ahead than this (0: no
    maximum): a token that never expires is a password that cannot be changed.

    Raises:
        ApiError: 401 when the token is not valid for this site, saying which check
            failed in our words (the JWT library's messages are its own and may change).
    """
    if not site.sso_secrets:
        raise ApiError(401, "sso_disabled", "this site has no single sign-on configured")
    for secret in site.sso_secrets:  # two during a rotation: new, then old
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],  # pinned: never trust the token's own "alg"
                options={"require": ["sub", "name", "exp"]},
                leeway=SSO_LEEWAY_S,
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise _refusal(exc) from None
        return _author(site, claims, max_ttl_s)
    raise _invalid("its signature does not match the site's SSO secret")


def _author(site: Site, claims: dict[str, Any], max_ttl_s: int) -> Author:
    if max_ttl_s and float(claims["exp"]) > time.time() + max_ttl_s + SSO_LEEWAY_S:
        raise _invalid(
            f"it expires more than {_duration(max_ttl_s)} ahead; issue shorter-lived tokens"
        )
    sub, name = claims.get("sub"), claims.get("name")
    if isinstance(name, str):
        name = clean_name(name)
    if not isinstance(sub, str) or not sub or not isinstance(name, str) or not visible(name):
        raise _invalid("it needs a non-empty string sub and a visible name")
    return Author(id=sso_author_id(site.slug, sub), name=name[:AUTHOR_NAME_MAX])


def _invalid(why: str) -> ApiError:
    return ApiError(401, "invalid_token", f"the sign-in token is not valid: {why}")


def _refusal(exc: jwt.PyJWTError) -> ApiError:
    """Which check failed, in our words. The order matters: subclasses first."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return ApiError(401, "token_expired", "the sign-in token has expired")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return _invalid("it is not valid yet (nbf or iat in the future)")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return _invalid(f"it lacks the {exc.claim} claim")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return _invalid("it is not signed with HS256")
    if isinstance(exc, jwt.InvalidAudienceError):
        return _invalid("it names an audience (aud), which this server does not take")
    if isinstance(exc, jwt.exceptions.InvalidIssuedAtError):
        return _invalid("its iat is not a number")
    if isinstance(exc, jwt.exceptions.InvalidSubjectError):
        return _invalid("its sub is not a string")
    if isinstance(exc, jwt.DecodeError):
        return _invalid("it is malformed (three base64url parts, JSON, numeric times)")
    return _invalid("it failed a check")


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days} days" if days and not rest else f"{seconds} seconds"


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "invalid_token", "Authorization must be 'Bearer <token>'")
    return value.strip()
