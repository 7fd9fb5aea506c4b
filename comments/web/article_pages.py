"""Article titles and addresses at the API's edge (docs/api.md, "Article pages"): the
widget's ``article_title``/``article_url`` with a first post, and moderators' edits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from comments.sites import Site, SiteSettingError, normalize_origin
from comments.web.common import storable
from comments.web.errors import ApiError

TITLE_MAX = 300
URL_MAX = 2000


def title_of(data: dict[str, Any], key: str) -> str | None:
    """Raises: ApiError 422 for a title that is not a string of at most 300 characters."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TITLE_MAX or not storable(value):
        raise ApiError(422, "invalid_body", f"{key} is a string of at most {TITLE_MAX} characters")
    value = " ".join(value.split())  # page titles carry newlines and runs of spaces
    return value or None


def url_of(data: dict[str, Any], key: str) -> str | None:
    """Raises: ApiError 422 for anything but an http(s) URL of at most 2,000 characters."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > URL_MAX or not storable(value):
        raise ApiError(
            422, "invalid_body", f"{key} is an http(s) URL of at most {URL_MAX} characters"
        )
    try:
        parts = urlsplit(value.strip())
        origin_of(value)
    except (ValueError, SiteSettingError):
        raise ApiError(422, "invalid_body", f"{key} is an http(s) URL") from None
    return parts._replace(fragment="").geturl()


def origin_of(url: str) -> str:
    """Raises: SiteSettingError (or ValueError) for anything but an http(s) URL."""
    parts = urlsplit(url.strip())
    return normalize_origin(f"{parts.scheme}://{parts.netloc}")


def first_post_page(data: dict[str, Any], site: Site) -> tuple[str | None, str | None]:
    """What of the widget's ``article_title``/``article_url`` the server keeps: both, if
    the URL is on one of the site's origins; nothing otherwise (another site's page must
    not name this site's article). Bad values are a 422, as other fields."""
    title = title_of(data, "article_title")
    url = url_of(data, "article_url")
    if url is None or origin_of(url) not in site.origins:
        return None, None
    return title, url


def page_edit(data: dict[str, Any]) -> dict[str, str | None]:
    """A moderator's ``title``/``url`` edit: the fields given (null clears one).

    Raises:
        ApiError: 422 for a bad title or URL.
    """
    edit: dict[str, str | None] = {}
    if "title" in data:
        edit["title"] = title_of(data, "title")
    if "url" in data:
        edit["url"] = url_of(data, "url")
    return edit
