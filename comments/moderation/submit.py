"""Reader use cases: post a comment, withdraw one's own.

Every post goes through :meth:`Posting.submit` whatever the endpoint: checked, stored as
pending, then decided by the :class:`~comments.moderation.decide.Decider`. Nothing
reaches a public socket before its decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from comments.errors import Code, Refused
from comments.infra.ratelimit import RateLimiter
from comments.live.hub import Hub
from comments.models import Author, Comment, Status, format_time, utcnow
from comments.moderation import policy, quiet_hours
from comments.moderation.decide import Decider, Known
from comments.moderation.networks import NetworkKeys
from comments.moderation.ranking import stored_risk
from comments.observability.metrics import Metrics
from comments.sites import Site
from comments.store import Store
from comments.store.review import NETWORK_SHADOW_REASON, SHADOW_REASON, AuthorState, ReviewStore
from comments.store.store import ArticleRow, NotFound

DUPLICATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Submission:
    site: Site
    article: str
    body: str
    parent: str | None
    client_ip: str


@dataclass(frozen=True)
class Checked:
    """A post that passed every check, with what the checks read (not read again)."""

    sub: Submission
    author: Author | None
    new_guest_name: str | None
    shadow: bool
    reason: str
    network: str | None
    article: ArticleRow | None
    state: AuthorState


@dataclass(frozen=True)
class Submitted:
    comment: Comment
    guest_token: str | None = None
    # The published comment as its event encoded it, for the answer (JSON encoded once).
    comment_json: str | None = None


def unknown_parent() -> Refused:
    return Refused(Code.UNKNOWN_PARENT, "parent must be a published comment of the same article")


def check_quiet_hours(site: Site, now: datetime) -> None:
    """Raises: Refused ``closed`` (with ``reopens_at``) during the site's quiet hours."""
    schedule = site.settings.get("quiet_hours")
    reopens = quiet_hours.reopens_at(schedule, now)
    if schedule and reopens is not None:
        raise Refused(
            Code.CLOSED,
            quiet_hours.message(schedule, reopens),
            extra={"reopens_at": format_time(reopens)},
        )


def check_content(site: Site, body: str) -> None:
    """Refuse a body with a banned word, before anything is stored.

    Raises:
        Refused: ``banned_word``.
    """
    found = policy.find_matches(
        body, site.settings["banned_words"], also_known=site.settings["suspect_words"]
    )
    if found:
        raise Refused(
            Code.BANNED_WORD,
            f"this comment contains a word this site does not allow: "
            f"{found[0].entry}{found[0].how}",
        )


class Posting:
    def __init__(
        self,
        *,
        store: Store,
        review: ReviewStore,
        limiter: RateLimiter,
        decider: Decider,
        hub: Hub,
        metrics: Metrics,
        networks: NetworkKeys,
    ) -> None:
        self.store = store
        self.review = review
        self.limiter = limiter
        self.decider = decider
        self.hub = hub
        self.metrics = metrics
        self.networks = networks

    async def check_parent(self, sub: Submission, author: Author | None = None) -> None:
        """Raises: Refused ``unknown_parent``."""
        if sub.parent is None:
            return
        parent = await self.store.get_comment(sub.parent)
        if (
            parent is None
            or parent.site != sub.site.slug
            or parent.article != sub.article
            or not (
                parent.status is Status.PUBLISHED
                # A shadowed comment looks published to its author, who may answer it.
                or (
                    parent.status is Status.SHADOWED
                    and author is not None
                    and parent.author.id == author.id
                )
            )
        ):
            raise unknown_parent()

    async def submit(
        self, sub: Submission, author: Author | None, new_guest_name: str | None
    ) -> Submitted:
        """Store, decide and publish or hold one comment: :meth:`check`, then
        :meth:`store`.

        ``author`` is the verified identity, or None with ``new_guest_name`` set for a
        guest posting for the first time (created only once every check has passed).

        Raises:
            Refused: ``banned``, ``closed``, ``duplicate``, ``unknown_parent``,
                ``rate_limited``.
        """
        async with self.store.reading():
            checked = await self.check(sub, author, new_guest_name)
        return await self.store_checked(checked)

    async def check(
        self, sub: Submission, author: Author | None, new_guest_name: str | None
    ) -> Checked:
        """Every check of a post, in docs/api.md's order, before anything is written
        (its reads share the caller's ``Store.reading`` scope, if any).

        A shadow-banned author (or a guest on a network shadow-banned with its author)
        is answered as if published; the comment is stored SHADOWED for them alone.

        Raises:
            Refused: ``banned``, ``closed``, ``duplicate``, ``rate_limited``.
        """
        shadow, reason = False, SHADOW_REASON
        # A guest posting for the first time has no state yet: nothing banned, nothing
        # approved.
        state = AuthorState(exists=False, banned=False, has_approved_comment=False)
        if author is not None:
            state = await self.review.author_state(sub.site.slug, author.id)
            if state.banned:
                raise Refused(Code.BANNED, "you can no longer comment on this site")
            shadow = state.shadowed
        network = self.networks.key(sub.site.slug, sub.client_ip)
        if network is not None and (author is None or author.is_guest):
            # Signed-in readers are vouched for by the partner: a network ban is for guests.
            found = await self.review.network_ban(
                sub.site.slug, network, None if author is None else author.id
            )
            if found == "banned":
                raise Refused(Code.BANNED, "you can no longer comment on this site")
            if found == "shadow" and not shadow:
                shadow, reason = True, NETWORK_SHADOW_REASON
        check_quiet_hours(sub.site, utcnow())
        article = await self.store.get_article(sub.site.slug, sub.article)
        if article is not None and article.closed:
            raise Refused(Code.CLOSED, "this article is closed for comments")
        if author is not None and await self.store.is_duplicate(
            author.id, sub.body, DUPLICATE_WINDOW
        ):
            raise Refused(Code.DUPLICATE, "you posted this same comment a moment ago")
        await self._rate_limit(sub, author)
        return Checked(
            sub=sub,
            author=author,
            new_guest_name=new_guest_name,
            shadow=shadow,
            reason=reason,
            network=network,
            article=article,
            state=state,
        )

    async def store_checked(self, checked: Checked) -> Submitted:
        """Write a post that passed :meth:`check`: create the new guest, store the
        comment, decide it.

        Raises:
            Refused: ``unknown_parent`` (the parent left since it was checked).
        """
        sub, author, shadow, network = checked.sub, checked.author, checked.shadow, checked.network
        guest_token: str | None = None
        if author is None:
            assert checked.new_guest_name is not None
            author, guest_token = await self.store.create_guest(
                sub.site.slug, checked.new_guest_name
            )
            # A new guest's first post counts against its own limit too.
            await self.limiter.hit(_author_key(author), _per_author(sub.site))
        elif not author.is_guest:
            await self.store.upsert_sso_author(sub.site.slug, author)  # first post, or new name
        if not shadow and self.decider.dispatcher is None:
            # Scored here: decided before it is stored, then written with its seq and
            # event in one transaction (nothing unclassified is ever stored published).
            return await self._submit_decided(
                sub, author, network, guest_token, checked.article, checked.state
            )
        try:
            comment, _ = await self.store.create_comment(
                site=sub.site.slug,
                article=sub.article,
                author=author,
                body=sub.body,
                parent=sub.parent,
                network_key=network,
                status=Status.SHADOWED if shadow else Status.PENDING,
                reasons=[checked.reason] if shadow else (),
            )
        except NotFound:  # the parent left between the check and the write
            raise unknown_parent() from None
        if shadow:
            await self.decider.shadowed(comment)
            return Submitted(comment=comment, guest_token=guest_token)
        decided = await self.decider.first_decision(comment, sub.site)
        return Submitted(comment=decided, guest_token=guest_token)

    async def _submit_decided(
        self,
        sub: Submission,
        author: Author,
        network: str | None,
        guest_token: str | None,
        article: ArticleRow | None,
        state: AuthorState,
    ) -> Submitted:
        draft = Comment(
            id="",
            site=sub.site.slug,
            article=sub.article,
            parent=sub.parent,
            author=author,
            body=sub.body,
            status=Status.PENDING,
            seq=None,
            created_at=utcnow(),
        )
        verdict, scores = await self.decider.judge_new(
            draft, sub.site, Known(article=article, author=state)
        )
        try:
            comment, event = await self.store.create_comment(
                site=sub.site.slug,
                article=sub.article,
                author=author,
                body=sub.body,
                parent=sub.parent,
                network_key=network,
                status=verdict.status,
                reasons=verdict.reasons,
                scores=scores or {},
                unscored=verdict.unscored,
                # The queue's order (comments.store.queue), stored with the decision.
                risk=stored_risk(scores, sub.site.settings["thresholds"]),
                known_article=article,
            )
        except NotFound:  # the parent left between the check and the write
            raise unknown_parent() from None
        decided = await self.decider.announce_new(comment, event)
        encoded = None
        if event is not None and decided is comment and comment.status is Status.PUBLISHED:
            encoded = event.comment_json  # what to_json(as_author=True) gives it too
        return Submitted(comment=decided, guest_token=guest_token, comment_json=encoded)

    async def delete_own(
        self, site: Site, article: str, comment_id: str, author: Author
    ) -> Comment:
        """The author withdraws their comment; open pages get ``comment.removed``.

        Raises:
            Refused: ``not_found`` (unknown comment), ``forbidden`` (someone else's).
        """
        comment = await self.store.get_comment(comment_id)
        if comment is None or comment.site != site.slug or comment.article != article:
            raise Refused(Code.NOT_FOUND, "no such comment under this article")
        if comment.author.id != author.id:
            raise Refused(Code.FORBIDDEN, "only its author can delete a comment")
        change = await self.store.transition(
            comment_id,
            Status.DELETED,
            allowed_from=[
                Status.PENDING,
                Status.PUBLISHED,
                Status.HELD,
                Status.REJECTED,
                Status.SHADOWED,
            ],
        )
        if change is None:
            raise Refused(Code.NOT_FOUND, "this comment was deleted already")
        if change.event is not None:
            self.hub.publish(site.slug, article, change.event)
        return change.comment

    async def limit_address(self, site: Site, client_ip: str) -> None:
        """Count a post attempt against its address's limit, before anything else is
        looked at (docs/api.md's order of checks): an address that floods the server with
        posts is refused whatever they hold.

        Raises:
            Refused: ``rate_limited``.
        """
        limit = int(site.settings["posts_per_minute_per_ip"])
        wait = await self.limiter.hit(f"ip:{site.slug}:{client_ip}", limit)
        if wait is not None:
            self.metrics.rate_limited.inc(limit="post_ip")
            raise _rate_limited(wait)

    async def _rate_limit(self, sub: Submission, author: Author | None) -> None:
        """The per-author limit, the last check (the per-address one came first)."""
        if author is None:
            return
        wait = await self.limiter.hit(_author_key(author), _per_author(sub.site))
        if wait is not None:
            self.metrics.rate_limited.inc(limit="post_author")
            raise _rate_limited(wait)


def _rate_limited(wait: float) -> Refused:
    return Refused(Code.RATE_LIMITED, "too many comments; try again shortly", retry_after_s=wait)


def _author_key(author: Author) -> str:
    return f"author:{author.id}"


def _per_author(site: Site) -> int:
    return int(site.settings["posts_per_minute_per_author"])
