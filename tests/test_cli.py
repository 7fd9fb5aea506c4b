"""The ``comments`` command as operators run it: a real process on a real database."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from comments.cli import build_parser, drain_seconds
from comments.scoring.scorer import BUNDLED_MODEL_WARNING
from comments.settings import Settings, normalize_database_url
from comments.sites import DEFAULTS, THRESHOLD_LABELS
from comments.store import create_store

SECRET = "partner-signing-secret-0123456789"
Cli = Callable[..., subprocess.CompletedProcess[str]]


def make_cli(database_url: str, cwd: Path) -> Cli:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COMMENTS_DATABASE_URL": database_url}
        env.pop("COMMENTS_REDIS_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "comments", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def sqlite_cli_url(tmp_path: Path) -> str:
    # The form operators write; the CLI maps it to the async driver.
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def cli(sqlite_cli_url: str, tmp_path: Path) -> Cli:
    return make_cli(sqlite_cli_url, tmp_path)


def stored_site(database_url: str, slug: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        store = create_store(normalize_database_url(database_url))
        try:
            return await store.get_site(slug)
        finally:
            await store.close()

    return asyncio.run(read())


def stored_slugs(database_url: str) -> list[str]:
    async def read() -> list[str]:
        store = create_store(normalize_database_url(database_url))
        try:
            await store.migrate()
            return await store.list_sites()
        finally:
            await store.close()

    return asyncio.run(read())


def create_site(database_url: str, slug: str, settings: dict[str, Any]) -> None:
    async def create() -> None:
        store = create_store(normalize_database_url(database_url))
        try:
            await store.migrate()
            assert await store.create_site(slug, settings)
        finally:
            await store.close()

    asyncio.run(create())


def shown(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 with a one-line reason on stderr, not a traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_site_lifecycle(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if db == "sqlite":
        url = request.getfixturevalue("sqlite_cli_url")
    else:  # the operator's spelling of the test database's URL
        url = request.getfixturevalue("postgres_url").replace("postgresql+asyncpg", "postgresql")
    cli = make_cli(url, tmp_path)

    for _ in range(2):  # migrating an up-to-date database is a no-op
        r = cli("migrate")
        assert r.returncode == 0, r.stderr
        assert "up to date" in r.stdout
    assert cli("site", "list").stdout == ""

    r = cli(
        "site",
        "add",
        "news",
        "--origin",
        "https://Partner.Example/",
        "--origin",
        "http://localhost:3000",
        "--guests",
        "--sso-secret",
        SECRET,
    )
    added = shown(r)
    assert SECRET not in r.stdout + r.stderr
    assert added["site"] == "news"
    settings = added["settings"]
    assert settings["origins"] == ["http://localhost:3000", "https://partner.example"]
    assert settings["guests"] is True
    assert settings["sso_secrets"] == ["…" + SECRET[-4:]]
    assert settings["posts_per_minute_per_author"] == 10  # defaults shown too
    assert settings["posts_per_minute_per_ip"] == 120
    stored = stored_site(url, "news")
    assert stored is not None and stored["sso_secrets"] == [SECRET]

    r = cli("site", "show", "news")
    assert {k: v for k, v in shown(r).items() if k != "classifier"} == added
    assert SECRET not in r.stdout + r.stderr

    r = cli("site", "add", "news", "--guests")
    assert_refused(r, "exists already")
    assert stored_site(url, "news") == stored

    r = cli("site", "set", "news", "posts_per_minute_per_ip", "7")
    assert shown(r)["settings"]["posts_per_minute_per_ip"] == 7
    assert shown(cli("site", "show", "news"))["settings"]["posts_per_minute_per_ip"] == 7

    assert shown(cli("site", "add", "blog"))["settings"]["guests"] is False
    assert cli("site", "list").stdout.split() == ["blog", "news"]


def test_site_show_warns_while_the_bundled_model_scores(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMENTS_CLASSIFIER", "profanity-check")
    cli("site", "add", "news")
    r = cli("site", "show", "news")
    assert shown(r)["classifier"] == {
        "name": "profanity-check",
        "warning": BUNDLED_MODEL_WARNING,
    }
    assert f"warning: {BUNDLED_MODEL_WARNING}" in r.stderr
    # The default threat phrases are shown, and an operator can clear them.
    assert "kill yourself" in shown(r)["settings"]["suspect_phrases"]
    r = cli("site", "set", "news", "suspect_phrases", "[]")
    assert shown(r)["settings"]["suspect_phrases"] == []
    r = cli("site", "set", "news", "suspect_phrases", "I will find you, ...")
    assert_refused(r, "has no letter or digit")


SETS: dict[str, tuple[str, str, Any, Any]] = {
    # key, value typed, value stored, value shown
    "bool": ("guests", "false", False, False),
    "bool-yes": ("premoderated", "yes", True, True),
    "int": ("posts_per_minute_per_author", "3", 3, 3),
    "int-zero": ("posts_per_minute_per_ip", "0", 0, 0),
    "list": ("banned_words", "Spam, eggs", ["spam", "eggs"], ["spam", "eggs"]),
    "origins": (
        "origins",
        "https://b.example:443,http://A.example:8080/",
        ["http://a.example:8080", "https://b.example"],
        ["http://a.example:8080", "https://b.example"],
    ),
    "thresholds": (
        "thresholds",
        "toxicity=0.7,threat=0.5",
        {"toxicity": 0.7, "threat": 0.5},
        {"toxicity": 0.7, "threat": 0.5},
    ),
    "thresholds-off": (
        "thresholds",
        "toxicity=off,threat=1",
        {"toxicity": 2.0, "threat": 1.0},
        {"toxicity": "off", "threat": 1.0},
    ),
    "sso-rotation": (
        "sso_secrets",
        f"{SECRET}-new,{SECRET}",
        [f"{SECRET}-new", SECRET],
        ["…-new", "…" + SECRET[-4:]],
    ),
}


@pytest.mark.parametrize(("key", "value", "stored", "display"), list(SETS.values()), ids=SETS)
def test_site_set(
    cli: Cli, sqlite_cli_url: str, key: str, value: str, stored: Any, display: Any
) -> None:
    original = {"guests": True, "origins": ["https://x.example"]}
    create_site(sqlite_cli_url, "news", original)
    r = cli("site", "set", "news", key, value)
    assert shown(r)["settings"][key] == display
    for secret in (SECRET, f"{SECRET}-new"):
        assert secret not in r.stdout
    site = stored_site(sqlite_cli_url, "news")
    assert site is not None and site[key] == stored
    assert {k: v for k, v in site.items() if k != key} == {
        k: v for k, v in original.items() if k != key
    }  # the other settings are kept


BAD_SETS: dict[str, tuple[list[str], str]] = {
    "bool": (["guests", "maybe"], "true or false"),
    "int-word": (["posts_per_minute_per_ip", "lots"], "whole number"),
    "int-negative": (["posts_per_minute_per_author", "-1"], "0 or more"),
    "thresholds-out-of-range": (["thresholds", "toxicity=0"], "above 0"),
    "thresholds-above-1": (["thresholds", "toxicity=2"], "at most 1"),
    "thresholds-unknown-label": (["thresholds", "toxcity=0.5"], "unknown label 'toxcity'"),
    "thresholds-not-pairs": (["thresholds", "toxicity"], "label=value"),
    "list-bad-json": (["banned_words", '["a",'], "JSON"),
    "origin-bad": (["origins", "ftp://files.example"], "not an origin"),
    "sso-secret-short": (["sso_secrets", "tooshort"], "32 characters"),
    "unknown-key": (["colour", "blue"], "invalid choice"),
}


@pytest.mark.parametrize(("args", "message"), list(BAD_SETS.values()), ids=BAD_SETS)
def test_site_set_refuses_bad_values(
    cli: Cli, sqlite_cli_url: str, args: list[str], message: str
) -> None:
    before = {"guests": True, "origins": ["https://x.example"], "thresholds": {"insult": 0.9}}
    create_site(sqlite_cli_url, "news", before)
    assert_refused(cli("site", "set", "news", *args), message)
    assert stored_site(sqlite_cli_url, "news") == before


def test_site_set_names_the_valid_keys_and_labels(cli: Cli, sqlite_cli_url: str) -> None:
    before = {"guests": True}
    create_site(sqlite_cli_url, "news", before)
    r = cli("site", "set", "news", "colour", "blue")
    assert_refused(r, "colour")
    assert all(key in r.stderr for key in DEFAULTS), r.stderr
    r = cli("site", "set", "news", "thresholds", "toxcity=0.5")
    assert_refused(r, "unknown label 'toxcity' in thresholds; labels: ")
    assert all(label in r.stderr for label in THRESHOLD_LABELS), r.stderr
    assert stored_site(sqlite_cli_url, "news") == before


def test_site_show_reads_thresholds_stored_before_the_checks(cli: Cli, sqlite_cli_url: str) -> None:
    # Above 1 was how a label was turned off; labels were not checked.
    create_site(sqlite_cli_url, "news", {"thresholds": {"toxicity": 1.5, "custom": 0.3}})
    shown_thresholds = shown(cli("site", "show", "news"))["settings"]["thresholds"]
    assert shown_thresholds == {"toxicity": "off", "custom": 0.3}
    # Setting another key keeps them as they are.
    assert shown(cli("site", "set", "news", "guests", "true"))["settings"]["guests"] is True
    stored = stored_site(sqlite_cli_url, "news")
    assert stored is not None and stored["thresholds"] == {"toxicity": 1.5, "custom": 0.3}


def test_site_set_on_unknown_site(cli: Cli, sqlite_cli_url: str) -> None:
    assert_refused(cli("site", "set", "nope", "guests", "true"), "no site 'nope'")
    assert_refused(cli("site", "show", "nope"), "no site 'nope'")


BAD_ORIGINS = {
    "scheme": "ftp://partner.example",
    "path": "https://partner.example/comments",
    "no-scheme": "partner.example",
    "bad-port": "https://partner.example:99999",
}


@pytest.mark.parametrize("origin", list(BAD_ORIGINS.values()), ids=BAD_ORIGINS)
def test_site_add_refuses_a_bad_origin(cli: Cli, sqlite_cli_url: str, origin: str) -> None:
    r = cli("site", "add", "news", "--origin", "https://ok.example", "--origin", origin)
    assert_refused(r, repr(origin))
    assert stored_slugs(sqlite_cli_url) == []  # nothing was created


def test_site_add_refuses_a_bad_slug(cli: Cli, sqlite_cli_url: str) -> None:
    assert_refused(cli("site", "add", "News_Site"), "slug")
    assert stored_slugs(sqlite_cli_url) == []


def test_sso_secret_is_taken_whole(cli: Cli, sqlite_cli_url: str) -> None:
    """``--sso-secret`` is one secret, whatever characters it holds."""
    secret = "[odd,secret-with-comma-0123456789"
    assert shown(cli("site", "add", "news", "--sso-secret", secret))
    site = stored_site(sqlite_cli_url, "news")
    assert site is not None and site["sso_secrets"] == [secret]
    assert_refused(cli("site", "add", "blog", "--sso-secret", "short"), "32 characters")


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    r = make_cli("postgresql://postgres@127.0.0.1:1/none", tmp_path)("site", "list")
    assert r.returncode == 3 and "database is unavailable" in r.stderr
    assert "Traceback" not in r.stderr
    r = make_cli(f"sqlite:///{tmp_path}/missing-dir/x.db", tmp_path)("migrate")
    assert r.returncode == 3 and "database is unavailable" in r.stderr
    assert "Traceback" not in r.stderr
    assert_refused(make_cli("mysql://db/comments", tmp_path)("migrate"), "COMMENTS_DATABASE_URL")


def test_the_drain_outlasts_the_longest_wait_for_a_score() -> None:
    # A post waits up to the classifier's (or the workers') timeout: SIGTERM must not cut
    # it off with a 500 and leave its comment pending.
    assert drain_seconds(Settings()) == 10
    assert drain_seconds(Settings(classifier_timeout_s=12)) == 17
    workers = Settings(scoring="workers", broker_url="redis://x", worker_timeout_s=30)
    assert drain_seconds(workers) == 35


def test_a_reader_that_leaves_early_gets_no_traceback(sqlite_cli_url: str, tmp_path: Path) -> None:
    create_site(sqlite_cli_url, "news", {"guests": True})
    env = {**os.environ, "COMMENTS_DATABASE_URL": sqlite_cli_url}
    # `comments site show news | head -c0`: the pipe is closed before anything is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "comments", "site", "show", "news"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read()
    assert proc.wait(60) == 1
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


PORT_COMMANDS = {
    "serve": ["serve"],
    "demo": ["demo"],
}
BAD_PORTS = {
    "above-65535": ("99999", "from 1 to 65535"),
    "65536": ("65536", "from 1 to 65535"),
    "zero": ("0", "from 1 to 65535"),
    "negative": ("-1", "whole number"),
    "word": ("http", "whole number"),
    "underscores": ("8_000", "whole number"),
}


@pytest.mark.parametrize("command", list(PORT_COMMANDS.values()), ids=PORT_COMMANDS)
@pytest.mark.parametrize(("value", "message"), list(BAD_PORTS.values()), ids=BAD_PORTS)
def test_port_options_refuse_ports_out_of_range(
    command: list[str], value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: `serve --port 99999` used to say it served on 99999 and listen elsewhere.
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--port", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port" in err and message in err, err


@pytest.mark.parametrize("command", list(PORT_COMMANDS.values()), ids=PORT_COMMANDS)
def test_port_options_take_the_whole_range(command: list[str]) -> None:
    for value in ("1", "8000", "65535"):
        assert build_parser().parse_args([*command, "--port", value]).port == int(value)
    assert build_parser().parse_args(command).port == 8000


def test_the_baseline_servers_refuse_a_port_out_of_range(tmp_path: Path) -> None:
    # A process of its own: before the fix, a server started (on the port modulo 65536).
    argv = ["websockets", "--port", "70000", "--channel", "c"]
    r = subprocess.run(
        [sys.executable, "-m", "comments.bench.baselines", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "from 1 to 65535" in r.stderr


def test_serve_with_a_port_out_of_range_exits_at_once(cli: Cli) -> None:
    r = cli("serve", "--port", "99999")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "argument --port: a port is from 1 to 65535, got '99999'" in r.stderr
    assert "Traceback" not in r.stderr


def all_parsers(
    parser: argparse.ArgumentParser,
    path: tuple[str, ...] = ("comments",),
    summary: str | None = None,
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser``: its command path, itself, its line in its parent's
    list of commands."""
    yield path, parser, summary
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                yield from all_parsers(subparser, (*path, name), helps.get(name))


def test_every_command_and_option_has_help() -> None:
    parsers = list(all_parsers(build_parser()))
    commands = {" ".join(path) for path, _, _ in parsers}
    assert {"comments serve", "comments site set", "comments model install"} <= commands
    missing: list[str] = []
    for path, parser, summary in parsers:
        command = " ".join(path)
        if len(path) > 1 and not summary:
            missing.append(f"{command}: no one-line help in its parent's list")
        if not parser.description:
            missing.append(f"{command}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{command} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["site", "set", "--help"]])
def test_help_is_printed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: comments")
    if argv[0] == "serve":
        assert "1-65535" in out


def test_version(cli: Cli) -> None:
    r = cli("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"comments {importlib.metadata.version('comments')}\n"


def run_model_install(torch_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``comments model install …`` with torch hub's cache under ``torch_home``."""
    env = {**os.environ, "TORCH_HOME": str(torch_home), "HF_HUB_OFFLINE": "1"}
    for name in ("TORCH_HUB", "COMMENTS_DETOXIFY_CHECKPOINT", "COMMENTS_DETOXIFY_CONFIG_DIR"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "comments", "model", "install", *args],
        env=env,
        cwd=torch_home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_model_install_puts_a_checkpoint_where_auto_finds_it(tmp_path: Path) -> None:
    from comments.scoring.classifier import create_classifier
    from comments.scoring.classifier.detoxify_model import (
        DEFAULT_MODEL,
        DetoxifyClassifier,
        detoxify_cache_path,
        installed_config_dir,
    )
    from comments.scoring.classifier.profanity import ProfanityCheckClassifier
    from comments.scoring.classifier.testing import build_tiny_detoxify, forbid_network

    tiny = build_tiny_detoxify(tmp_path)
    torch_home = tmp_path / "torch"
    hub_dir = str(torch_home / "hub")
    assert isinstance(create_classifier("auto", hub_dir=hub_dir), ProfanityCheckClassifier)

    r = run_model_install(torch_home, str(tiny.checkpoint), "--config-dir", str(tiny.config_dir))
    assert r.returncode == 0, r.stderr
    cached = detoxify_cache_path(DEFAULT_MODEL, hub_dir)  # where auto looks
    digest = hashlib.sha256(tiny.checkpoint.read_bytes()).hexdigest()
    assert cached.read_bytes() == tiny.checkpoint.read_bytes()
    assert f"installed {cached}\n" in r.stdout
    assert f"sha256 {digest}\n" in r.stdout
    assert f"config {installed_config_dir(cached)}\n" in r.stdout
    assert (installed_config_dir(cached) / "config.json").is_file()

    classifier = create_classifier("auto", hub_dir=hub_dir)
    assert isinstance(classifier, DetoxifyClassifier)
    with forbid_network() as attempts:  # the config installed beside it is used
        classifier.load()
    assert attempts == []
    assert classifier.labels == tiny.labels
    assert classifier.score_batch(["a comment"])[0].keys() == set(tiny.labels)


def test_model_install_refuses_what_does_not_load_strictly(tmp_path: Path) -> None:
    import torch

    from comments.scoring.classifier.detoxify_model import DEFAULT_MODEL, detoxify_cache_path
    from comments.scoring.classifier.testing import build_tiny_detoxify

    tiny = build_tiny_detoxify(tmp_path)
    torch_home = tmp_path / "torch"
    cached = detoxify_cache_path(DEFAULT_MODEL, torch_home / "hub")
    config = ("--config-dir", str(tiny.config_dir))

    not_detoxify = tmp_path / "weights.ckpt"
    torch.save({"weights": torch.zeros(3), "epoch": 1}, not_detoxify)
    r = run_model_install(torch_home, str(not_detoxify), *config)
    assert_refused(r, "not a Detoxify checkpoint")
    assert not cached.exists()

    assert run_model_install(torch_home, str(tiny.checkpoint), *config).returncode == 0
    installed = cached.read_bytes()
    # Right format, but a weight is missing: the model would run on random weights.
    loaded = torch.load(tiny.checkpoint, weights_only=False)
    del loaded["state_dict"]["classifier.weight"]
    partial = tmp_path / "partial.ckpt"
    torch.save(loaded, partial)
    r = run_model_install(torch_home, str(partial), *config)
    assert_refused(r, "1 model weights missing (e.g. ['classifier.weight'])")
    assert cached.read_bytes() == installed  # the earlier install is untouched

    assert_refused(
        run_model_install(torch_home, str(tmp_path / "missing.ckpt")), "no checkpoint file"
    )
    assert_refused(
        run_model_install(torch_home, str(tiny.checkpoint), "--config-dir", str(tmp_path / "x")),
        "no config folder",
    )
    assert cached.read_bytes() == installed
    assert sorted(p.name for p in cached.parent.iterdir()) == [
        cached.name,
        cached.with_suffix(".config").name,
    ]  # no temporary files left behind
