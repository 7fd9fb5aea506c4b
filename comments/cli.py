"""The ``comments`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from comments import bench, demo
from comments.argtypes import port
from comments.errors import ConfigurationError
from comments.integrations import commands as webhook_commands
from comments.models import SITE_SLUG
from comments.moderation.ranking import stored_risk
from comments.scoring.classifier.factory import DETOXIFY_MODELS
from comments.scoring.scorer import describe as describe_classifier
from comments.settings import LOOPBACK_HOSTS, Settings, SettingsError
from comments.sites import (
    DEFAULTS,
    THRESHOLD_LABELS,
    SiteSettingError,
    merged,
    normalize_origin,
    parse_value,
    redacted,
)
from comments.store import Store, StoreUnavailable, create_store
from comments.store.queue import rerank
from comments.store.store import NotFound
from comments.transfer import people


class CliError(Exception):
    pass


def drain_seconds(settings: Settings) -> int:
    """How long SIGTERM waits for requests in flight: at least 10 s, and longer than a
    post can wait for its score, so no post is cut off mid-decision."""
    wait = (
        settings.worker_timeout_s
        if settings.scoring == "workers"
        else (settings.classifier_timeout_s)
    )
    return max(10, math.ceil(wait) + 5)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from comments.observability.logs import setup_logging
    from comments.server.config import build_config, check_uvicorn, serve_forever
    from comments.server.rlimit import raise_open_files_limit
    from comments.web.app import create_app

    setup_logging(settings)
    configured = bool(settings.own_origins)
    settings = settings.serving_at(args.host, args.port)
    log_own_origins(settings, args.host, configured=configured)
    check_uvicorn()
    # Every socket is a file: the usual soft limit of 1024 would cap a node far below
    # the 10,000 sockets it is meant to hold.
    raise_open_files_limit()
    config = build_config(
        create_app(settings, freeze_gc=True),
        settings,
        host=args.host,
        port=args.port,
        ws_deflate=args.ws_deflate,
        graceful_shutdown_s=drain_seconds(settings),
    )
    serve_forever(config)
    return 0


def log_own_origins(settings: Settings, host: str, *, configured: bool) -> None:
    """Say which origins count as the server's own (its console, the demo page): an
    operator whose console is refused 403 `origin_not_allowed` finds why in the log."""
    import logging

    log = logging.getLogger("comments.serve")
    shown = ", ".join(settings.own_origins)
    if configured:
        log.info("the server's own origin (COMMENTS_PUBLIC_URL): %s", shown)
        return
    level = logging.WARNING if host not in LOOPBACK_HOSTS else logging.INFO
    log.log(
        level,
        "COMMENTS_PUBLIC_URL is not set: the moderator console works from %s only; "
        "set it to the URL browsers reach this server at",
        shown,
    )


async def _with_store(settings: Settings, action: Callable[[Store], Awaitable[int]]) -> int:
    store = create_store(settings.database_url)
    try:
        try:
            await store.migrate()
        except (OSError, DBAPIError) as exc:
            # The first contact with the database: an operator's typo or a server that
            # is down deserves a one-line message, not a traceback.
            raise StoreUnavailable(str(exc).splitlines()[0]) from exc
        return await action(store)
    finally:
        await store.close()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def run(store: Store) -> int:
        print("database is up to date")
        return 0

    return asyncio.run(_with_store(settings, run))


def cmd_site(args: argparse.Namespace, settings: Settings) -> int:
    async def run(store: Store) -> int:
        if args.site_command == "list":
            for slug in await store.list_sites():
                print(slug)
            return 0
        slug = args.slug
        if args.site_command == "add":
            if not SITE_SLUG.fullmatch(slug):
                raise CliError("a site slug is [a-z0-9][a-z0-9-]{0,63}")
            site: dict[str, Any] = {
                "origins": sorted({normalize_origin(o) for o in args.origin}),
                "guests": bool(args.guests),
            }
            if args.sso_secret is not None:
                # One secret, taken whole: a comma or a leading "[" is part of it.
                site["sso_secrets"] = parse_value("sso_secrets", json.dumps([args.sso_secret]))
            if not await store.create_site(slug, site):
                raise CliError(f"site {slug!r} exists already; change it with `comments site set`")
            print(json.dumps({"site": slug, "settings": redacted(merged(site))}, indent=2))
            return 0
        stored = await store.get_site(slug)
        if stored is None:
            raise CliError(f"no site {slug!r}; create it with `comments site add {slug}`")
        if args.site_command == "set":
            stored[args.key] = parse_value(args.key, args.value)
            await store.save_site(slug, stored)
            if args.key == "thresholds":  # the queue's order follows them
                thresholds = merged(stored)["thresholds"]
                await rerank(store, slug, lambda scores: stored_risk(scores, thresholds))
        shown: dict[str, Any] = {"site": slug, "settings": redacted(merged(stored))}
        if args.site_command == "show":
            # What scores this site's comments, and what it cannot see.
            shown["classifier"] = describe_classifier(settings)
        print(json.dumps(shown, indent=2))
        warning = shown.get("classifier", {}).get("warning")
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return 0

    return asyncio.run(_with_store(settings, run))


def cmd_moderator(args: argparse.Namespace, settings: Settings) -> int:
    from comments.moderation import roles
    from comments.store.review import ReviewStore

    async def run(store: Store) -> int:
        if await store.get_site(args.site) is None:
            raise CliError(f"no site {args.site!r}")
        review = ReviewStore(store)
        if args.moderator_command == "add":
            try:
                token = await review.add_moderator(
                    args.site,
                    args.name,
                    role=roles.check_role(args.role),
                    scopes=roles.check_scopes(args.scope or ()),
                )
            except ValueError as exc:
                raise CliError(str(exc)) from None
            print(token)
            print(
                "This token is shown once: give it to the moderator; it is stored hashed.",
                file=sys.stderr,
            )
            return 0
        if not await review.revoke_moderator(args.site, args.name):
            raise CliError(f"no active moderator {args.name!r} on {args.site!r}")
        print(f"revoked {args.name} on {args.site}")
        return 0

    return asyncio.run(_with_store(settings, run))


#: Who the audit log names for a change made on the command line.
CLI_ACTOR = "cli"


def cmd_ban(args: argparse.Namespace, settings: Settings) -> int:
    from comments.errors import Refused
    from comments.store.review import ReviewStore

    async def run(store: Store) -> int:
        if await store.get_site(args.site) is None:
            raise CliError(f"no site {args.site!r}")
        review = ReviewStore(store)
        if args.ban_command == "list":
            bans = await review.bans(args.site)
            print(json.dumps({"bans": [b.to_json() for b in bans]}, indent=2))
            return 0
        # The use case, not the table: the audit log keeps the change as for moderators.
        from comments.moderation.review import lift_ban

        try:
            lifted = await lift_ban(review, CLI_ACTOR, args.site, args.author)
        except Refused:
            raise CliError(f"no author {args.author!r} on {args.site!r}") from None
        if lifted is None:
            raise CliError(f"{args.author!r} is not banned on {args.site!r}")
        print(f"unbanned {args.author} on {args.site}")
        return 0

    return asyncio.run(_with_store(settings, run))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from comments.observability.logs import setup_logging
    from comments.scoring.worker import run_worker

    setup_logging(settings)
    try:
        return asyncio.run(run_worker(settings))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from comments.scoring.classifier import fetch_model

    try:
        path = fetch_model(args.model)
    except Exception as exc:  # offline hosts: say what to do instead
        raise CliError(
            f"could not download Detoxify {args.model!r}: {exc}. On hosts without network, "
            "copy a checkpoint and set COMMENTS_DETOXIFY_CHECKPOINT and "
            "COMMENTS_DETOXIFY_CONFIG_DIR."
        ) from None
    print(path)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from comments.transfer.importer import Importer
    from comments.transfer.progress import Progress
    from comments.transfer.records import ImportRefused

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no file at {path}")

    async def run(store: Store) -> int:
        scorer = None
        broker = None
        if args.moderate:
            from comments.scoring.scorer import Scorer

            scorer = Scorer.from_settings(settings)
            await scorer.load()
        publish = None
        if not args.dry_run and not settings.broker_url.startswith("memory:"):
            # Nodes hear of the new events as of any other node's; with the in-process
            # broker there is no one to tell, and open pages catch up on their node's
            # periodic check against the database (COMMENTS_RESYNC_INTERVAL_S).
            from comments.infra.broker import BrokerUnavailable, create_broker
            from comments.live.hub import article_channel, event_message
            from comments.store import EventRow

            broker = create_broker(settings.broker_url)
            await broker.connect()

            async def publish(site: str, article: str, event: EventRow) -> None:
                assert broker is not None
                channel = article_channel(settings.channel_prefix, site, article)
                with contextlib.suppress(BrokerUnavailable):
                    await broker.publish(channel, event_message(event))

        try:
            report = await Importer(store, progress=Progress(), scorer=scorer, publish=publish).run(
                args.kind,
                path,
                site=args.site,
                article_mode=args.article,
                dry_run=args.dry_run,
            )
        except ImportRefused as exc:
            raise CliError(str(exc)) from None
        finally:
            if scorer is not None:
                await scorer.close()
            if broker is not None:
                await broker.disconnect()
        for line in report.lines():
            print(line)
        if args.json:
            print(json.dumps(report.to_json()))
        return 0

    return asyncio.run(_with_store(settings, run))


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from comments.transfer.export import export

    since = None
    if args.since is not None:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise CliError(f"--since takes an ISO 8601 date or time, got {args.since!r}") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)

    async def run(store: Store) -> int:
        if await store.get_site(args.site) is None:
            raise CliError(f"no site {args.site!r}")
        if args.output is None:
            articles, count = await export(
                store, sys.stdout, site=args.site, article=args.article, since=since
            )
            sys.stdout.flush()
        else:
            # Written beside the target and renamed: an interrupted export leaves no
            # half file under the name a script waits for.
            target = Path(args.output)
            partial = target.with_name(target.name + ".partial")
            with partial.open("w", encoding="utf-8") as out:
                articles, count = await export(
                    store, out, site=args.site, article=args.article, since=since
                )
            partial.replace(target)
        print(f"exported {count} comments of {articles} articles", file=sys.stderr)
        return 0

    return asyncio.run(_with_store(settings, run))


def package_version() -> str:
    """The installed ``comments`` package's version, or ``unknown`` in a bare source tree."""
    try:
        return importlib.metadata.version("comments")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cmd_model_install(args: argparse.Namespace, settings: Settings) -> int:
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise CliError(f"no checkpoint file at {checkpoint}")
    if args.config_dir is not None and not Path(args.config_dir).is_dir():
        raise CliError(f"no config folder at {args.config_dir}")
    from comments.scoring.classifier import ClassifierLoadError

    try:
        # Imports torch and detoxify: only this command needs them.
        from comments.scoring.classifier.detoxify_model import install_detoxify
    except ImportError as exc:
        raise CliError(
            f"installing a Detoxify checkpoint needs torch and detoxify: {exc}"
        ) from None
    try:
        installed = install_detoxify(checkpoint, config_dir=args.config_dir)
    except ClassifierLoadError as exc:
        raise CliError(f"{checkpoint} not installed: {exc}") from None
    except OSError as exc:
        raise CliError(f"{checkpoint} not installed: {exc}") from None
    print(f"installed {installed.checkpoint}")
    print(f"sha256 {installed.sha256}")
    if installed.config_dir is not None:
        print(f"config {installed.config_dir}")
    print(f"labels {', '.join(installed.labels)}")
    if settings.detoxify_checkpoint or settings.detoxify_config_dir:
        print(
            "note: COMMENTS_DETOXIFY_CHECKPOINT or COMMENTS_DETOXIFY_CONFIG_DIR is set here, "
            "and the classifier uses those instead of what was installed",
            file=sys.stderr,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="comments", description="Self-hosted real-time comments with moderation."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the server",
        description="Serve the API, the widget and live WebSocket threads. Configured by "
        "COMMENTS_* environment variables (see the README); SIGTERM drains requests in "
        "flight before exiting.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=port, default=8000, help="TCP port to listen on, 1-65535 (default 8000)"
    )
    serve.add_argument(
        "--ws-deflate", action="store_true", help="enable permessage-deflate (off by default)"
    )
    serve.set_defaults(func=cmd_serve)
    demo.add_parser(sub)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Bring the database named by COMMENTS_DATABASE_URL up to date; "
        "running it on an up-to-date database changes nothing.",
    )
    migrate.set_defaults(func=cmd_migrate)

    site = sub.add_parser(
        "site",
        help="create and configure partner sites",
        description="Create partner sites and change their settings, which live in the "
        "database: running servers pick a change up within seconds.",
    )
    site_sub = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    add = site_sub.add_parser(
        "add",
        help="create a site",
        description="Create a site and print its settings; change them later with "
        "`comments site set`.",
    )
    add.add_argument("slug", help="the site's name in URLs: [a-z0-9][a-z0-9-]{0,63}")
    add.add_argument("--origin", action="append", default=[], help="allowed origin (repeatable)")
    add.add_argument("--guests", action="store_true", help="allow guest comments")
    add.add_argument("--sso-secret", help="HS256 secret for partner sign-in tokens")
    setp = site_sub.add_parser(
        "set",
        help="change a setting",
        description="Change one setting of a site and print them all. Nothing is written "
        "when the value is refused. Keys: "
        + ", ".join(sorted(DEFAULTS))
        + ". Thresholds are label=value pairs (or a JSON object), each value above 0 and "
        "at most 1, or off to ignore the label; labels: " + ", ".join(THRESHOLD_LABELS) + ".",
    )
    setp.add_argument("slug", help="the site")
    setp.add_argument(
        "key", choices=sorted(DEFAULTS), metavar="KEY", help="the setting (see the list above)"
    )
    setp.add_argument(
        "value",
        help="true/false, a whole number, a comma-separated (or JSON) list, or for "
        "thresholds label=value pairs such as toxicity=0.8,threat=off",
    )
    show = site_sub.add_parser(
        "show",
        help="print a site's settings",
        description="Print a site's settings, defaults included, as JSON; secrets show "
        "only their last four characters.",
    )
    show.add_argument("slug", help="the site")
    site_sub.add_parser("list", help="list sites", description="Print every site's slug.")
    site.set_defaults(func=cmd_site)

    moderator = sub.add_parser(
        "moderator",
        help="create and revoke moderator tokens",
        description="Give a moderator a token for a site's review queue, or revoke it.",
    )
    mod_sub = moderator.add_subparsers(dest="moderator_command", required=True, metavar="ACTION")
    for name, text, description in (
        (
            "add",
            "create a moderator; prints the token once",
            "Create a moderator of a site and print their token; it is stored hashed and "
            "cannot be shown again.",
        ),
        ("revoke", "end a moderator's token", "End a moderator's token at once."),
    ):
        p = mod_sub.add_parser(name, help=text, description=description)
        p.add_argument("name", help="the moderator's name")
        p.add_argument("--site", required=True, help="the site they moderate")
        if name == "add":
            p.add_argument(
                "--role",
                choices=("moderator", "admin"),
                default="moderator",
                help="admins also change the site's settings (default: moderator)",
            )
            p.add_argument(
                "--scope",
                action="append",
                metavar="PREFIX",
                help="only articles whose id starts with PREFIX (repeatable; default: all)",
            )
    moderator.set_defaults(func=cmd_moderator)

    ban = sub.add_parser(
        "ban",
        help="list and lift bans",
        description="List a site's active bans, or lift one. Moderators ban from the "
        "console or the API; every lift is in the site's audit log (as 'cli').",
    )
    ban_sub = ban.add_subparsers(dest="ban_command", required=True, metavar="ACTION")
    ban_list = ban_sub.add_parser(
        "list",
        help="print the site's active bans as JSON",
        description="Print the site's active bans, newest first, as JSON: author, name, "
        "scope, shadow, until, reason, by, at (what GET …/bans answers).",
    )
    ban_list.add_argument("--site", required=True, help="the site")
    ban_remove = ban_sub.add_parser(
        "remove",
        help="lift an author's ban",
        description="Lift an author's ban at once; its network keys are deleted. Fails "
        "when the author is unknown or not banned.",
    )
    ban_remove.add_argument("author", metavar="AUTHOR", help="the author id (as listed)")
    ban_remove.add_argument("--site", required=True, help="the site")
    ban.set_defaults(func=cmd_ban)

    model = sub.add_parser(
        "model",
        help="manage classifier weights",
        description="Put Detoxify's weights where the classifier finds them.",
    )
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    fetch = model_sub.add_parser(
        "fetch",
        help="download Detoxify weights ahead of time",
        description="Download a Detoxify model into torch hub's cache (where `auto` and "
        "`detoxify` look) and check that it loads. Needs network access.",
    )
    fetch.add_argument(
        "model",
        nargs="?",
        default="original",
        help=f"the model: {', '.join(DETOXIFY_MODELS)} (default original)",
    )
    fetch.set_defaults(func=cmd_model)
    install = model_sub.add_parser(
        "install",
        help="install a Detoxify checkpoint from a file (offline hosts)",
        description="Load a Detoxify checkpoint strictly (every model weight must come "
        "from the file), then copy it where the `auto` and `detoxify` classifiers look "
        "(torch hub's cache, as `model fetch` would), replacing what is there, and print "
        "where it went and its sha256. Nothing is copied if it does not load.",
    )
    install.add_argument("checkpoint", help="the Detoxify .ckpt file")
    install.add_argument(
        "--config-dir",
        metavar="DIR",
        help="its Hugging Face config and tokenizer folder, copied beside it (needed "
        "offline: without it they are fetched from the Hugging Face hub)",
    )
    install.set_defaults(func=cmd_model_install)

    worker = sub.add_parser(
        "worker",
        help="score queued comments (with COMMENTS_SCORING=workers on the nodes)",
        description="Take scoring jobs from the Redis Stream the nodes fill, score them "
        "with the configured classifier, and publish or hold each comment. Run as many as "
        "scoring needs; a job a dead worker held is taken over by another.",
    )
    worker.set_defaults(func=cmd_worker)

    imp = sub.add_parser(
        "import",
        help="import comments from Disqus, WordPress or a `comments export`",
        description="Import the comments of a Disqus XML export, a WordPress WXR export "
        "or a `comments export` file into a site. Approved comments are published, "
        "pending ones held for the moderators; spam, deleted comments, pingbacks and "
        "trackbacks are counted and left out. Running it again on the same file adds "
        "nothing. The file is read whole before anything is written: a malformed file, "
        "or an XML file declaring entities, imports nothing.",
    )
    imp.add_argument("kind", choices=("disqus", "wordpress", "jsonl"), help="the file's format")
    imp.add_argument("file", help="the export file")
    imp.add_argument("--site", required=True, help="the site to import into")
    imp.add_argument(
        "--article",
        choices=("path", "link", "id"),
        default=None,
        help="the article id each thread gets: path (default for XML: the link's path "
        "and query without the leading slash, a bare / kept), link (the whole link) or id "
        "(the source's own thread id; the default for jsonl, which keeps article ids)",
    )
    imp.add_argument(
        "--moderate",
        action="store_true",
        help="send comments that would be published through the classifier and the "
        "site's policy first, as new posts are",
    )
    imp.add_argument("--dry-run", action="store_true", help="read and count, write nothing")
    imp.add_argument("--json", action="store_true", help="also print the summary as JSON")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser(
        "export",
        help="export a site's comments as JSON Lines",
        description="Write a site's articles and comments as JSON Lines (to standard "
        "output, or --output FILE): published, held and rejected comments with their "
        "scores and reasons, deleted ones as stubs. `comments import jsonl` reads it "
        "back. No tokens, secrets or network addresses are written.",
    )
    exp.add_argument("--site", required=True, help="the site")
    exp.add_argument("--article", default=None, help="only this article")
    exp.add_argument(
        "--since", default=None, help="only comments created at or after this ISO 8601 time"
    )
    exp.add_argument("--output", default=None, help="write to this file instead")
    exp.set_defaults(func=cmd_export)

    bench.add_parser(sub)
    webhook_commands.add_parser(sub, _with_store)
    people.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        result: int = args.func(args, settings)
        return result
    except (CliError, ConfigurationError, SettingsError, SiteSettingError, NotFound) as exc:
        print(f"comments: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"comments: the database is unavailable: {exc}", file=sys.stderr)
        return 3
    except BrokenPipeError:
        # The reader left (`comments site show news | head`): not an error worth a
        # traceback. Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
