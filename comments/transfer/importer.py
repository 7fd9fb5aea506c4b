"""``comments import``: read an export whole, decide what each post becomes, then write.

Nothing is written before the file has been read to its end, so a file that turns out
malformed or unsafe half-way imports nothing. Posts are then ordered per article (by
creation time; our own exports by their original seq) and written in transactions of
about :data:`BATCH` comments.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import IO, Any

from comments.models import AUTHOR_NAME_MAX, Status
from comments.moderation import policy
from comments.moderation.ranking import stored_risk
from comments.scoring.scorer import Scorer
from comments.sites import merged
from comments.store import EventRow, Store
from comments.store.transfer import ArticleBatch, NewAuthor, NewComment, TransferStore
from comments.transfer import disqus, jsonl, wordpress
from comments.transfer.progress import CountingReader, Progress
from comments.transfer.records import ImportRefused, Post, Skip, Thread
from comments.transfer.spool import BodySpool
from comments.transfer.text import article_id

KINDS = ("disqus", "wordpress", "jsonl")
BATCH = 1000
SCORE_CHUNK = 256  # posts scored at once with --moderate (the classifier batches them)
ANONYMOUS = "Anonymous"

Publish = Callable[[str, str, EventRow], Awaitable[None]]


@dataclass
class Report:
    site: str
    source: str
    dry_run: bool
    read: int = 0
    imported: int = 0
    articles: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    missing_thread: list[str] = field(default_factory=list)
    reparented: int = 0

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "none"
        out = [
            f"{verb} {self.imported} of {self.read} comments into {self.articles} articles "
            f"of site {self.site} ({by_status})",
        ]
        for reason, n in sorted(self.skipped.items()):
            out.append(f"skipped {n}: {reason}")
        if self.missing_thread:
            shown = ", ".join(self.missing_thread[:50])
            more = len(self.missing_thread) - 50
            out.append(
                f"posts whose thread is missing: {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        if self.reparented:
            out.append(
                f"{self.reparented} replies to comments not imported now answer the nearest "
                "imported comment above them (or the article)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "source": self.source,
            "dry_run": self.dry_run,
            "read": self.read,
            "imported": self.imported,
            "articles": self.articles,
            "statuses": dict(self.statuses),
            "skipped": dict(self.skipped),
            "missing_thread": self.missing_thread,
            "reparented": self.reparented,
        }


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\x00".join(parts).encode()).digest()[:12]
    return base64.urlsafe_b64encode(raw).decode()


def comment_id(site: str, source: str, source_id: str) -> str:
    """The same comment of the same export always gets the same id here, so a reply can
    name its parent before the parent is written, and an interrupted import resumes."""
    return _digest("comment", site, source, source_id)


def _parse(kind: str, stream: IO[bytes]) -> tuple[Iterator[Thread | Post], Callable[[], str]]:
    if kind == "disqus":
        return disqus.parse(stream), lambda: disqus.SOURCE
    if kind == "wordpress":
        parser = wordpress.Parser()
        return parser.parse(stream), lambda: parser.source
    if kind == "jsonl":
        return jsonl.parse(stream), lambda: jsonl.SOURCE
    raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(KINDS)}")


class Importer:
    def __init__(
        self,
        store: Store,
        *,
        progress: Progress | None = None,
        scorer: Scorer | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.store = store
        self.transfer = TransferStore(store)
        self.progress = progress or Progress(enabled=False)
        self.scorer = scorer  # set with --moderate
        self.publish = publish
        self.spool: BodySpool  # a new one per run
        self.thresholds: dict[str, float] = {}  # the site's, per run

    async def run(
        self,
        kind: str,
        path: Path,
        *,
        site: str,
        article_mode: str | None = None,
        dry_run: bool = False,
    ) -> Report:
        """Raises: ImportRefused (no such site, an unsafe or malformed file)."""
        stored = await self.store.get_site(site)
        if stored is None:
            raise ImportRefused(f"no site {site!r}; create it with `comments site add {site}`")
        mode = article_mode or ("id" if kind == "jsonl" else "path")
        self.spool = BodySpool()
        try:
            return await self._run(kind, path, stored, site, mode, dry_run)
        finally:
            self.spool.close()

    async def _run(
        self,
        kind: str,
        path: Path,
        stored: dict[str, Any],
        site: str,
        mode: str,
        dry_run: bool,
    ) -> Report:
        threads, posts, source = await asyncio.to_thread(self._read, kind, path)
        report = Report(site=site, source=source, dry_run=dry_run, read=len(posts))
        known = await self.transfer.imported_ids(site, source)
        keys = {t.source_id: article_id(mode, t.link, t.own_id) for t in threads.values()}
        by_id = self._screen(posts, threads, keys, known, report)
        parents = self._parents(posts, by_id, known, report, site, source)
        importable = [p for p in posts if p.skip is None]
        # The queue's order of what it holds (comments.moderation.ranking).
        self.thresholds = dict(merged(stored)["thresholds"])
        decided = await self._moderate(importable, keys, threads, merged(stored), site)
        await self._write(importable, decided, parents, threads, keys, report, site, source)
        return report

    def _read(self, kind: str, path: Path) -> tuple[dict[str, Thread], list[Post], str]:
        threads: dict[str, Thread] = {}
        posts: list[Post] = []
        self.progress.start("reading", path.stat().st_size, unit="B", scale=True)
        try:
            with path.open("rb") as raw:
                items, source = _parse(kind, CountingReader(raw, self.progress))  # type: ignore[arg-type]
                for item in items:
                    if isinstance(item, Thread):
                        threads.setdefault(item.source_id, item)
                        continue
                    if item.skip is not None:
                        item.body = ""  # spam, deleted: never written, never read
                    elif item.body:
                        item.spooled = self.spool.put(item.body)
                        item.body = ""
                    posts.append(item)
        finally:
            self.progress.close()
        return threads, posts, source()

    def _screen(
        self,
        posts: list[Post],
        threads: dict[str, Thread],
        keys: dict[str, str | None],
        known: set[str],
        report: Report,
    ) -> dict[str, Post]:
        by_id: dict[str, Post] = {}
        for post in posts:
            if not post.source_id:
                post.skip = Skip.NO_ID
            elif post.source_id in by_id:
                post.skip = Skip.DUPLICATE
            else:
                by_id[post.source_id] = post
            if post.skip is not None:
                continue
            if post.thread not in threads:
                post.skip = Skip.THREAD_MISSING
                report.missing_thread.append(post.source_id)
            elif keys[post.thread] is None:
                post.skip = Skip.NO_ARTICLE
            elif post.created_at is None:
                post.skip = Skip.NO_DATE
            elif post.spooled is None and not post.body and post.status != "deleted":
                post.skip = Skip.EMPTY
            elif post.source_id in known:
                post.skip = Skip.ALREADY_IMPORTED
        for post in posts:
            if post.skip is not None:
                report.skipped[str(post.skip)] += 1
        return by_id

    def _parents(
        self,
        posts: list[Post],
        by_id: dict[str, Post],
        known: set[str],
        report: Report,
        site: str,
        source: str,
    ) -> dict[str, str | None]:
        """Each imported post's parent comment id. A reply to a post left out (spam,
        deleted) answers the nearest post above it that exists here, or the article."""

        def exists(sid: str) -> bool:
            found = by_id.get(sid)
            return sid in known or (found is not None and found.skip is None)

        parents: dict[str, str | None] = {}
        for post in posts:
            if post.skip is not None:
                continue
            parent = post.parent
            hops = 0
            while parent is not None and not exists(parent) and parent in by_id and hops < 1000:
                parent = by_id[parent].parent
                hops += 1
            if parent is not None and (
                not exists(parent) or (parent in by_id and by_id[parent].thread != post.thread)
            ):
                parent = None
            if parent != post.parent:
                report.reparented += 1
            parents[post.source_id] = None if parent is None else comment_id(site, source, parent)
        return parents

    async def _moderate(
        self,
        posts: list[Post],
        keys: dict[str, str | None],
        threads: dict[str, Thread],
        settings: dict[str, Any],
        site: str,
    ) -> dict[str, tuple[Status, dict[str, float] | None, list[str], bool]]:
        """With --moderate: the classifier and the site's policy on every post that would
        be published, as on a new post (the author counts as known: they were approved
        on the old site). Returns source id → (status, scores, reasons, unscored)."""
        if self.scorer is None:
            return {}
        site_policy = policy.SitePolicy(
            thresholds=settings["thresholds"],
            banned_words=tuple(settings["banned_words"]),
            suspect_words=tuple(settings["suspect_words"]),
            premoderated=bool(settings["premoderated"]),
        )
        premoderated: dict[str, bool] = {}
        candidates = [p for p in posts if p.status == "published"]
        decided: dict[str, tuple[Status, dict[str, float] | None, list[str], bool]] = {}
        self.progress.start("moderating", len(candidates), unit="comments")
        try:
            for start in range(0, len(candidates), SCORE_CHUNK):
                chunk = candidates[start : start + SCORE_CHUNK]
                scores = await asyncio.gather(*(self.scorer.score(self._body(p)) for p in chunk))
                for post, score in zip(chunk, scores, strict=True):
                    key = keys[post.thread]
                    assert key is not None
                    if key not in premoderated:
                        article = await self.store.get_article(site, key)
                        premoderated[key] = bool(article and article.premoderated)
                    decision = policy.decide(
                        site_policy,
                        policy.ArticleState(premoderated=premoderated[key]),
                        policy.AuthorState(has_approved_comment=True),
                        self._body(post),
                        score,
                    )
                    status = {
                        policy.Action.PUBLISH: Status.PUBLISHED,
                        policy.Action.HOLD: Status.HELD,
                        policy.Action.REJECT: Status.REJECTED,
                    }[decision.action]
                    unscored = policy.CLASSIFIER_UNAVAILABLE in decision.reasons
                    decided[post.source_id] = (status, score, list(decision.reasons), unscored)
                self.progress.update(len(chunk))
        finally:
            self.progress.close()
        return decided

    async def _write(
        self,
        posts: list[Post],
        decided: dict[str, tuple[Status, dict[str, float] | None, list[str], bool]],
        parents: dict[str, str | None],
        threads: dict[str, Thread],
        keys: dict[str, str | None],
        report: Report,
        site: str,
        source: str,
    ) -> None:
        by_article: dict[str, list[tuple[int, Post]]] = {}
        for index, post in enumerate(posts):
            key = keys[post.thread]
            assert key is not None
            by_article.setdefault(key, []).append((index, post))
        report.articles = len(by_article)
        written_authors: set[str] = set()
        pending: list[ArticleBatch] = []
        new_authors: list[NewAuthor] = []
        size = 0
        self.progress.start("writing", len(posts), unit="comments")
        try:
            for key, entries in by_article.items():
                # Creation order; our own exports keep their publication order (seq).
                entries.sort(
                    key=lambda e: (
                        e[1].seq is None,
                        e[1].seq or 0,
                        e[1].created_at,
                        e[0],
                    )
                )
                thread = threads[entries[0][1].thread]
                url = thread.link or None
                batch = ArticleBatch(key=key, title=thread.title, url=url, comments=[])
                pending.append(batch)
                for _, post in entries:
                    new = self._comment(post, decided, parents, site, source)
                    author_kind = "sso" if new.author_id.startswith(f"{site}:") else "imported"
                    if new.author_id not in written_authors:
                        written_authors.add(new.author_id)
                        new_authors.append(NewAuthor(new.author_id, new.author_name, author_kind))
                    batch.comments.append(new)
                    report.imported += 1
                    report.statuses[str(new.status)] += 1
                    size += 1
                    if size >= BATCH:
                        await self._flush(site, source, pending, new_authors, report)
                        batch = ArticleBatch(key=key, title=thread.title, url=url, comments=[])
                        pending = [batch]
                        new_authors = []
                        size = 0
            await self._flush(site, source, pending, new_authors, report)
        finally:
            self.progress.close()

    def _comment(
        self,
        post: Post,
        decided: dict[str, tuple[Status, dict[str, float] | None, list[str], bool]],
        parents: dict[str, str | None],
        site: str,
        source: str,
    ) -> NewComment:
        assert post.created_at is not None
        status = Status(post.status)
        scores, reasons, unscored = post.scores, post.reasons, False
        if post.source_id in decided:
            status, scores, reasons, unscored = decided[post.source_id]
        if status is Status.DELETED:
            name = ""
        else:
            name = post.author_name.strip()[:AUTHOR_NAME_MAX] or ANONYMOUS
        author = post.author_key
        # An identity of this very site (a restore, a move between servers) stays the
        # reader's own; any other becomes an imported identity nobody can sign in as.
        if not (source == jsonl.SOURCE and author.startswith(f"{site}:")):
            author = "i_" + _digest("author", site, source, author)
        return NewComment(
            id=comment_id(site, source, post.source_id),
            source_id=post.source_id,
            parent=parents[post.source_id],
            author_id=author,
            author_name=name,
            body=self._body(post),
            status=status,
            created_at=post.created_at.astimezone(UTC),
            scores=scores,
            reasons=reasons,
            unscored=unscored,
            risk=stored_risk(scores, self.thresholds),
        )

    def _body(self, post: Post) -> str:
        return post.body if post.spooled is None else self.spool.get(post.spooled)

    async def _flush(
        self,
        site: str,
        source: str,
        batches: list[ArticleBatch],
        new_authors: list[NewAuthor],
        report: Report,
    ) -> None:
        batches = [b for b in batches if b.comments]
        count = sum(len(b.comments) for b in batches)
        if not count:
            return
        if not report.dry_run:
            written = await self.transfer.write(site, source, batches, new_authors)
            if self.publish is not None:
                for item in written:
                    if item.last_event is not None:
                        # The last event is enough: a node that sees a jump in seqs
                        # reads the ones before it from the database.
                        await self.publish(site, item.key, item.last_event)
        self.progress.update(count)
