"""Bans that stick (issue 14): an author's ban covers, for guests by default, the networks
they posted from (an IPv4 address, an IPv6 /64), kept as keyed hashes while the ban lasts;
shadow bans show the author's comments to them alone; every ban change is audited; and
guest reports count once per network (issue 13). On a running server, SQLite and
PostgreSQL, with client addresses from a trusted proxy's X-Forwarded-For, and without one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from comments.settings import Settings
from comments.store import Store
from tests.conftest import RunningServer, add_site, wait_until
from tests.moderation import (
    ARTICLE,
    Guest,
    Moderator,
    bearer,
    from_address,
    listed_ids,
    mod_settings,
    new_moderator,
    open_public,
    post,
    posted,
    rows,
    thread_url,
)
from tests.test_cli import make_cli

Serve = Callable[..., Awaitable[RunningServer]]
SSO_SECRET = "partner-sso-secret-for-ban-tests-0123"

# The troll's two networks, and addresses in and out of them.
TROLL_V4 = "203.0.113.7"
TROLL_V6 = "2001:db8:7:7::1"
SAME_V6_NETWORK = "2001:db8:7:7:ffff:abcd:1:2"  # same /64, another address
OTHER_V4 = "203.0.113.8"  # the next address: another network (/32)
OTHER_V6 = "2001:db8:7:8::1"  # the next /64


@pytest.fixture
def serve(database_url: str, channel_prefix: str, start_server: Any) -> Serve:
    async def serve(site: dict[str, Any] | None = None, **changes: Any) -> RunningServer:
        await add_site(database_url, sso_secrets=[SSO_SECRET], **(site or {}))
        settings: Settings = mod_settings(database_url, "memory://", channel_prefix, **changes)
        server: RunningServer = await start_server(settings)
        return server

    return serve


def sso(sub: str, name: str) -> dict[str, str]:
    token = jwt.encode(
        {"sub": sub, "name": name, "exp": int(time.time() + 3600)}, SSO_SECRET, algorithm="HS256"
    )
    return bearer(token)


def ban_url(author_id: str, site: str = "news") -> str:
    return f"/api/v1/moderation/sites/{site}/authors/{author_id}/ban"


async def ban(mod: Moderator, author_id: str, **body: Any) -> dict[str, Any]:
    r = await mod.http.post(ban_url(author_id), json=body, headers=bearer(mod.token))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def bans(mod: Moderator) -> list[dict[str, Any]]:
    r = await mod.http.get("/api/v1/moderation/sites/news/bans", headers=bearer(mod.token))
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["bans"]
    return found


async def audit(mod: Moderator) -> list[dict[str, Any]]:
    r = await mod.http.get("/api/v1/moderation/sites/news/audit", headers=bearer(mod.token))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def network_keys(store: Store) -> list[Any]:
    return await rows(store, "SELECT author_id, network_key FROM ban_networks")


async def thread(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> list[Any]:
    r = await http.get(thread_url(), headers=headers or {})
    assert r.status_code == 200, r.text
    return [(c["id"], c["status"]) for c in r.json()["comments"]]


async def count(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    r = await http.get(f"/api/v1/sites/news/counts?article={ARTICLE}", headers=headers or {})
    assert r.status_code == 200, r.text
    n: int = r.json()["counts"][ARTICLE]
    return n


class Troll:
    """The author to ban: a guest or a signed-in reader, posting from two networks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.guest = Guest("Troll")
        self.sso = sso("troll", "Troll")
        self.author_id = "news:troll"

    async def post(self, http: httpx.AsyncClient, body: str, address: str) -> httpx.Response:
        if self.kind == "guest":
            r = await post(http, body, guest=self.guest, headers=from_address(address))
            if self.guest.author_id:
                self.author_id = self.guest.author_id
            return r
        return await http.post(
            thread_url(),
            json={"body": body},
            headers={**self.sso, **from_address(address)},
        )

    @property
    def identity(self) -> dict[str, str]:
        return self.guest.headers() if self.kind == "guest" else self.sso


def assert_banned(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "banned"


@pytest.mark.parametrize("shadow", [False, True], ids=["ban", "shadow"])
@pytest.mark.parametrize(
    ("kind", "scope"),
    [
        ("guest", None),  # the default for guests: author+network
        ("guest", "author"),
        ("sso", None),  # the default for signed-in readers: author
        ("sso", "author+network"),
    ],
    ids=["guest-default", "guest-author", "sso-default", "sso-network"],
)
async def test_ban_matrix(serve: Serve, kind: str, scope: str | None, shadow: bool) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    store = server.node.store
    network = (scope or ("author+network" if kind == "guest" else "author")) == "author+network"
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        troll = Troll(kind)
        # The troll posts from an IPv4 address and from an IPv6 one.
        for i, address in enumerate((TROLL_V4, TROLL_V6)):
            r = await troll.post(http, f"troll's opening {i}", address)
            assert r.status_code == 201, r.text
        seen = [(await public.next())["seq"] for _ in range(2)]
        assert seen == [1, 2]

        body: dict[str, Any] = {"reason": "trolling", "shadow": shadow}
        if scope is not None:
            body["scope"] = scope
        answer = await ban(ana, troll.author_id, **body)
        assert answer["banned"] is True and answer["scope"] == (
            "author+network" if network else "author"
        )
        [listed] = await bans(ana)
        assert listed["author"] == troll.author_id and listed["name"] == "Troll"
        assert listed["scope"] == answer["scope"] and listed["shadow"] is shadow
        assert listed["until"] is None and listed["reason"] == "trolling"
        assert listed["by"] == "ana" and listed["at"].endswith("Z")
        keys = await network_keys(store)
        assert len(keys) == (2 if network else 0)
        assert all(len(k.network_key) == 64 for k in keys)

        # The troll, as themselves, from anywhere.
        shadowed: list[str] = []
        for address in (TROLL_V4, OTHER_V6):
            r = await troll.post(http, f"still here from {address}", address)
            if shadow:
                assert r.status_code == 201, r.text
                comment = r.json()["comment"]
                assert comment["status"] == "published" and comment["seq"] == 2
                shadowed.append(comment["id"])
            else:
                assert_banned(r)

        # New guest identities from the troll's networks (and from next door).
        results: dict[str, httpx.Response] = {}
        for address in (TROLL_V4, SAME_V6_NETWORK, OTHER_V4, OTHER_V6):
            results[address] = await post(
                http,
                f"a new guest from {address}",
                guest=Guest("Fresh"),
                headers=from_address(address),
            )
        for address in (TROLL_V4, SAME_V6_NETWORK):
            r = results[address]
            if not network:
                assert r.status_code == 201, r.text
            elif shadow:
                assert r.status_code == 201 and r.json()["comment"]["status"] == "published"
                shadowed.append(r.json()["comment"]["id"])
            else:
                assert_banned(r)
        for address in (OTHER_V4, OTHER_V6):
            assert results[address].status_code == 201, results[address].text
        # A signed-in reader on the troll's network: the partner vouches for them.
        r = await http.post(
            thread_url(),
            json={"body": "signed in, same café"},
            headers={**sso("neighbour", "Nia"), **from_address(TROLL_V4)},
        )
        assert r.status_code == 201, r.text
        last = r.json()["comment"]

        # Nobody else ever sees the shadowed comments: not live, not listed, not counted.
        visible = await listed_ids(http)
        assert not set(shadowed) & set(visible)
        assert visible[-1] == last["id"]
        while True:
            event = await public.next()
            assert event["comment"]["id"] not in shadowed
            if event["comment"]["id"] == last["id"]:
                break
        assert await count(http) == len(visible)
        if shadow:
            # The troll sees them, as published, in place.
            own = await thread(http, troll.identity)
            mine = [cid for cid, _ in own if cid in shadowed]
            assert mine == [c for c in shadowed[:2]]
            assert all(status == "published" for _, status in own)
            assert await count(http, troll.identity) == len(visible) + 2
            # Moderators see them held, marked as shadow-banned, after the other items.
            queue = await ana.queue()
            assert {i["id"] for i in queue} == set(shadowed)
            assert all(i["status"] == "held" and i["shadow"] for i in queue)

        # Lifted: the network keys go, everyone posts again.
        r = await http.delete(ban_url(troll.author_id), headers=bearer(ana.token))
        assert r.status_code == 200, r.text
        assert await network_keys(store) == []
        assert await bans(ana) == []
        r = await troll.post(http, "reformed", TROLL_V4)
        assert r.status_code == 201 and r.json()["comment"]["seq"] is not None
        r = await post(http, "fresh again", guest=Guest("Fresh"), headers=from_address(TROLL_V4))
        assert r.status_code == 201, r.text

        entries = [e for e in await audit(ana) if e["target"] == f"author:{troll.author_id}"]
        assert [e["action"] for e in entries] == ["unban", "ban"]
        unban, banned = entries
        assert banned["moderator"] == "ana" and banned["detail"]["old"] is None
        new = banned["detail"]["new"]
        assert new == {
            "scope": answer["scope"],
            "shadow": shadow,
            "until": None,
            "reason": "trolling",
            "networks": 2 if network else 0,
        }
        assert unban["detail"] == {"old": new, "new": None}
        await public.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"], ids=["ipv4", "ipv6"])
async def test_without_a_trusted_proxy_the_peer_address_is_banned_whatever_the_header_says(
    sqlite_url: str, channel_prefix: str, start_server: Any, host: str
) -> None:
    await add_site(sqlite_url, sso_secrets=[SSO_SECRET])
    settings = mod_settings(sqlite_url, "memory://", channel_prefix)
    try:
        server = await start_server(settings, host=host)
    except OSError:  # pragma: no cover - a host without IPv6 loopback
        pytest.skip(f"cannot listen on {host}")
    url = f"http://[{host}]:{server.port}" if ":" in host else server.url
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll, headers=from_address("198.51.100.1"))
        await ban(ana, troll.author_id or "", reason="spam")
        # A new identity, claiming another address: the header is not believed.
        r = await post(http, "again", guest=Guest("New"), headers=from_address("198.51.100.2"))
        assert_banned(r)
        r = await http.post(thread_url(), json={"body": "signed in"}, headers=sso("someone", "Sam"))
        assert r.status_code == 201, r.text


async def test_a_ban_ends_on_time_and_its_network_keys_are_purged(serve: Serve) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    store = server.node.store
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll, headers=from_address(TROLL_V6))
        until = datetime.now(UTC) + timedelta(seconds=1.5)
        await ban(ana, troll.author_id or "", reason="cool off", until=until.isoformat())
        assert len(await network_keys(store)) == 1
        r = await post(http, "new me", guest=Guest("New"), headers=from_address(SAME_V6_NETWORK))
        assert_banned(r)

        async def ended() -> bool:
            return datetime.now(UTC) > until and await bans(ana) == []

        await wait_until(ended, timeout=10, interval=0.1)
        # Listing purged it; the periodic sweep does the same without anyone asking.
        assert await network_keys(store) == []
        [author] = await rows(
            store,
            "SELECT banned, banned_until, ban_scope, banned_by FROM authors WHERE id = :id",
            id=troll.author_id,
        )
        assert (bool(author.banned), author.banned_until, author.ban_scope, author.banned_by) == (
            False,
            None,
            None,
            None,
        )
        await posted(http, "back", 201, guest=troll, headers=from_address(TROLL_V6))
        await posted(http, "new me", 201, guest=Guest("New"), headers=from_address(SAME_V6_NETWORK))


async def test_expired_bans_are_swept_by_the_node(serve: Serve) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    store = server.node.store
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll, headers=from_address(TROLL_V4))
        until = datetime.now(UTC) + timedelta(seconds=1)
        await ban(ana, troll.author_id or "", until=until.isoformat())
        assert len(await network_keys(store)) == 1
        await wait_until(lambda: datetime.now(UTC) > until, timeout=5)
        assert await server.node.review.purge_expired_bans() == 1
        assert await network_keys(store) == []


async def test_shadowed_comments_stay_their_authors_until_a_moderator_decides(
    serve: Serve,
) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    async with server.client() as http:
        ana = await new_moderator(server, http)
        public = await open_public(server)
        troll = Guest("Troll")
        first = await posted(http, "an opening", 201, guest=troll)
        assert (await public.next())["seq"] == 1
        await ban(ana, troll.author_id or "", shadow=True, scope="author")
        hidden = await posted(http, "nobody hears me", 201, guest=troll)
        # Its author may answer it (it looks published to them); nobody else can.
        r = await http.post(
            thread_url(),
            json={"body": "and I agree with me", "author_name": "Troll", "parent": hidden["id"]},
            headers=troll.headers(),
        )
        assert r.status_code == 201, r.text
        reply = r.json()["comment"]
        other = await http.post(
            thread_url(),
            json={"body": "replying", "author_name": "Other", "parent": hidden["id"]},
            headers=from_address(OTHER_V4),
        )
        assert other.status_code == 422 and other.json()["error"]["code"] == "unknown_parent"
        # The same text again: a duplicate, as for anyone.
        again = await post(http, "nobody hears me", guest=troll)
        assert again.status_code == 409, again.text
        # A stale or unknown identity on a read is no error: the reader sees the public page.
        r = await http.get(thread_url(), headers={"X-Comments-Guest": "no-such-token"})
        assert r.status_code == 200 and hidden["id"] not in str(r.json())
        r = await http.get(thread_url(), headers=troll.headers())
        assert r.headers["cache-control"] == "private, no-cache"
        assert "X-Comments-Guest" in r.headers["vary"] and "Origin" in r.headers["vary"]
        assert [c["id"] for c in r.json()["comments"]] == [first["id"], hidden["id"], reply["id"]]
        # Paged by one: each page holds what falls in its seq range, nothing twice.
        pages, after = [], None
        while True:
            q = "?limit=1" + (f"&after={after}" if after is not None else "")
            r = await http.get(thread_url() + q, headers=troll.headers())
            pages.append([c["id"] for c in r.json()["comments"]])
            after = r.json()["next"]
            if after is None:
                break
        assert [cid for page in pages for cid in page] == [first["id"], hidden["id"], reply["id"]]

        # Approved: published for real, with a seq, live on open pages.
        approved = await ana.decided("approve", hidden["id"])
        assert approved["status"] == "published" and approved["seq"] == 2
        event = await public.next()
        assert event["type"] == "comment.published" and event["comment"]["id"] == hidden["id"]
        # Rejected: gone for its author too.
        rejected = await ana.decided("reject", reply["id"])
        assert rejected["status"] == "rejected"
        ids = [
            c["id"]
            for c in (await http.get(thread_url(), headers=troll.headers())).json()["comments"]
        ]
        assert ids == [first["id"], hidden["id"]]
        await public.close()


async def test_ban_body_is_validated(serve: Serve) -> None:
    server = await serve()
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll)
        for bad in (
            {"scope": "network"},
            {"scope": ["author"]},
            {"shadow": "yes"},
            {"shadow": 1},
            {"shadow": None},
        ):
            r = await http.post(ban_url(troll.author_id or ""), json=bad, headers=bearer(ana.token))
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"]["code"] == "invalid_body"
        assert await bans(ana) == []
        # Lifting a ban that is not there changes nothing and is no audit entry.
        r = await http.delete(ban_url(troll.author_id or ""), headers=bearer(ana.token))
        assert r.status_code == 200 and r.json()["lifted"] is None
        assert await audit(ana) == []
        # A re-ban replaces the ban, and the audit log says from what to what.
        await ban(ana, troll.author_id or "", reason="one")
        await ban(ana, troll.author_id or "", reason="two", shadow=True, scope="author")
        [latest, _] = await audit(ana)
        assert latest["detail"]["old"]["reason"] == "one"
        assert latest["detail"]["old"]["scope"] == "author+network"
        assert latest["detail"]["new"]["reason"] == "two" and latest["detail"]["new"]["shadow"]
        [listed] = await bans(ana)
        assert listed["reason"] == "two" and listed["scope"] == "author" and listed["shadow"]


async def test_guest_reports_count_once_per_network_and_signed_in_readers_each(
    serve: Serve,
) -> None:
    server = await serve(site={"reports_before_review": 10}, trusted_proxies="127.0.0.1")
    async with server.client() as http:
        comment = await posted(http, "a perfectly clean comment", 201)
        url = f"{thread_url()}/{comment['id']}/report"

        async def report(headers: dict[str, str]) -> None:
            r = await http.post(url, json={"reason": "spam"}, headers=headers)
            assert r.status_code == 202, r.text

        # Three guest identities minted from one address, and an anonymous reader there.
        for i in range(3):
            guest = Guest(f"Sock {i}")
            await posted(
                http, f"hi {i}", 201, guest=guest, headers=from_address(TROLL_V4), article="x"
            )
            await report({**guest.headers(), **from_address(TROLL_V4)})
        await report(from_address(TROLL_V4))
        # Two addresses of one IPv6 /64.
        await report(from_address(TROLL_V6))
        await report(from_address(SAME_V6_NETWORK))
        # Two signed-in readers on that same address count as two people.
        await report({**sso("r1", "Rea"), **from_address(TROLL_V4)})
        await report({**sso("r2", "Rob"), **from_address(TROLL_V4)})
        item = await server.node.review.item(comment["id"])
        assert item is not None and item.reports == 4
        reporters = await rows(
            server.node.store,
            "SELECT reporter FROM reports WHERE comment_id = :id",
            id=comment["id"],
        )
        assert sorted(r.reporter.split(":")[0] for r in reporters) == ["net", "net", "news", "news"]


ADDRESSES = ["198.51.100.23", "203.0.113.99", "2001:db8:abcd:12::7", "2001:db8:ffff:1:2:3:4:5"]


def address_forms(address: str) -> set[str]:
    """Every way an address (or its network) could be written into a column."""
    ip = ipaddress.ip_address(address)
    forms = {address, str(ip), ip.exploded, ip.compressed}
    if ip.version == 6:
        net = ipaddress.ip_network(f"{address}/64", strict=False)
        forms |= {str(net.network_address), net.network_address.exploded, str(net)}
        forms.add(ip.exploded.rsplit(":", 4)[0])  # the /64 prefix, written out
    return {f.lower() for f in forms}


async def dump(store: Store) -> str:
    """Every row of every table, as text."""
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        out = []
        for name in names:
            result = await conn.execute(sa.text(f'SELECT * FROM "{name}"'))
            out.extend(f"{name}: {tuple(row)}" for row in result)
    return "\n".join(out).lower()


async def test_no_raw_address_is_stored_anywhere(serve: Serve) -> None:
    server = await serve(trusted_proxies="127.0.0.1")
    store = server.node.store
    async with server.client() as http:
        ana = await new_moderator(server, http)
        comments = []
        guests = []
        for address in ADDRESSES:
            guest = Guest(f"Reader {len(guests)}")
            guests.append(guest)
            comments.append(
                await posted(
                    http,
                    f"hello from afar {len(comments)}",
                    201,
                    guest=guest,
                    headers=from_address(address),
                )
            )
            r = await http.post(
                thread_url(),
                json={"body": f"signed in {len(comments)}"},
                headers={**sso(f"u{len(comments)}", "Sig"), **from_address(address)},
            )
            assert r.status_code == 201, r.text
        for address, guest in zip(ADDRESSES, guests, strict=True):
            for c in comments:
                r = await http.post(
                    f"{thread_url()}/{c['id']}/report",
                    json={"reason": "test"},
                    headers={**guest.headers(), **from_address(address)},
                )
                assert r.status_code == 202, r.text
            r = await http.post(
                f"{thread_url()}/{comments[0]['id']}/report", json={}, headers=from_address(address)
            )
            assert r.status_code == 202, r.text
        await ban(ana, guests[0].author_id or "", shadow=True)
        await ban(ana, guests[2].author_id or "")
        r = await post(http, "shadowed", guest=guests[0], headers=from_address(ADDRESSES[0]))
        assert r.status_code == 201
        assert len(await network_keys(store)) == 2
        text = await dump(store)
    assert "ban_networks" in text and "reports" in text  # the dump holds those tables
    for address in ADDRESSES:
        for form in address_forms(address):
            assert form not in text, f"{form} is stored"


async def test_cli_lists_and_lifts_bans(
    sqlite_url: str, channel_prefix: str, start_server: Any, tmp_path: Path
) -> None:
    await add_site(sqlite_url)
    server = await start_server(
        mod_settings(sqlite_url, "memory://", channel_prefix, trusted_proxies="127.0.0.1")
    )
    cli = make_cli(sqlite_url, tmp_path)
    async with server.client() as http:
        ana = await new_moderator(server, http)
        troll = Guest("Troll")
        await posted(http, "first", 201, guest=troll, headers=from_address(TROLL_V4))
        await ban(ana, troll.author_id or "", reason="spam", shadow=True)

        listed = await asyncio.to_thread(cli, "ban", "list", "--site", "news")
        assert listed.returncode == 0, listed.stderr
        [shown] = json.loads(listed.stdout)["bans"]
        assert shown == (await bans(ana))[0]
        assert shown["author"] == troll.author_id and shown["shadow"] is True

        removed = await asyncio.to_thread(
            cli, "ban", "remove", troll.author_id or "", "--site", "news"
        )
        assert removed.returncode == 0, removed.stderr
        assert await bans(ana) == []
        assert await network_keys(server.node.store) == []
        [entry, _] = await audit(ana)
        assert (entry["moderator"], entry["action"]) == ("cli", "unban")
        assert entry["detail"]["old"]["reason"] == "spam"

        again = await asyncio.to_thread(
            cli, "ban", "remove", troll.author_id or "", "--site", "news"
        )
        assert again.returncode == 2 and "not banned" in again.stderr
        unknown = await asyncio.to_thread(cli, "ban", "remove", "g_nobody", "--site", "news")
        assert unknown.returncode == 2 and "no author" in unknown.stderr
        nosite = await asyncio.to_thread(cli, "ban", "list", "--site", "nope")
        assert nosite.returncode == 2 and "no site" in nosite.stderr
