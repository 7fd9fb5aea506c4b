"""Pre-moderation of new authors and of their links (site settings
``premoderate_new_authors``, ``hold_links_from_new_authors``; docs/api.md)."""

from __future__ import annotations

from comments.moderation import policy

CLEAN = {"profanity": 0.01}


def decide(site: policy.SitePolicy, body: str, *, known: bool) -> policy.Decision:
    return policy.decide(
        site,
        policy.ArticleState(),
        policy.AuthorState(has_approved_comment=known),
        body,
        CLEAN,
    )


def test_new_authors_are_held_when_the_site_says_so() -> None:
    site = policy.SitePolicy(premoderate_new_authors=True)
    held = decide(site, "a fine comment", known=False)
    assert held.action is policy.Action.HOLD and held.reasons == (policy.NEW_AUTHOR,)
    assert decide(site, "a fine comment", known=True).action is policy.Action.PUBLISH
    assert decide(policy.SitePolicy(), "a fine comment", known=False).action is (
        policy.Action.PUBLISH
    )


def test_links_from_new_authors_can_be_let_through() -> None:
    body = "see https://example.com/report"
    held = decide(policy.SitePolicy(), body, known=False)
    assert held.action is policy.Action.HOLD
    assert held.reasons == (policy.LINK_FROM_NEW_AUTHOR,)
    off = policy.SitePolicy(hold_links_from_new_authors=False)
    assert decide(off, body, known=False).action is policy.Action.PUBLISH
