"""Reader identity: SSO JWTs signed by the partner site, or server-issued guest tokens."""

from __future__ import annotations

import jwt

from comments.models import AUTHOR_NAME_MAX, Author
from comments.sites import Site
from comments.web.errors import ApiError

# Partner servers' clocks drift; a few seconds of leeway avoids refusing fresh tokens.
SSO_LEEWAY_S = 30


def sso_author_id(site: str, sub: str) -> str:
    return f"{site}:{sub}"


def verify_sso(site: Site, token: str) -> Author:
    """The author a partner's HS256 JWT names.

    Raises:
        ApiError: 401 when the token is not valid for this site.
    """
    if not site.sso_secrets:
        raise ApiError(401, "sso_disabled", "this site has no single sign-on configured")
    last_error = "invalid token"
    for secret in site.sso_secrets:  # two during a rotation: new, then old
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],  # pinned: never trust the token's own "alg"
                options={"require": ["sub", "name", "exp"]},
                leeway=SSO_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "token_expired", "the sign-in token has expired") from None
        except jwt.InvalidSignatureError:
            last_error = "the sign-in token's signature does not match"
            continue
        except jwt.PyJWTError as exc:
            raise ApiError(401, "invalid_token", f"invalid sign-in token: {exc}") from None
        sub, name = claims.get("sub"), claims.get("name")
        if not isinstance(sub, str) or not sub or not isinstance(name, str) or not name.strip():
            raise ApiError(401, "invalid_token", "the sign-in token needs string sub and name")
        return Author(id=sso_author_id(site.slug, sub), name=name.strip()[:AUTHOR_NAME_MAX])
    raise ApiError(401, "invalid_token", last_error)


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "invalid_token", "Authorization must be 'Bearer <token>'")
    return value.strip()
