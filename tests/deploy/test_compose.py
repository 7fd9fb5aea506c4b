"""deploy/compose.yaml and deploy/nginx.conf: valid under the Compose Specification
(its JSON schema, as check-jsonschema ships it), started in the right order, wired to
each other and to the image."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from starlette.routing import WebSocketRoute

from comments.settings import Settings
from comments.web.app import create_app
from tests.deploy.conftest import DEPLOY, ROOT, dockerfile_stages, interpolate_defaults

Compose = dict[str, Any]


def compose_validator() -> jsonschema.Draft202012Validator:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text()
    )
    schema = json.loads(text)
    assert schema["title"] == "Compose Specification"
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_compose_file_is_valid_under_the_compose_specification(compose: Compose) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in compose_validator().iter_errors(compose)
    ]
    assert errors == []


def _typo(c: Compose) -> None:
    c["services"]["app"]["helthcheck"] = {"test": ["CMD", "true"]}


def _bad_condition(c: Compose) -> None:
    c["services"]["app"]["depends_on"]["migrate"]["condition"] = "service_finished"


def _command_as_mapping(c: Compose) -> None:
    c["services"]["worker"]["command"] = {"run": "worker"}


@pytest.mark.parametrize(
    "break_it", [_typo, _bad_condition, _command_as_mapping], ids=lambda f: f.__name__
)
def test_the_schema_check_catches_a_broken_file(compose: Compose, break_it: Any) -> None:
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert list(compose_validator().iter_errors(broken))


def test_the_stack_is_nginx_three_nodes_two_workers_redis_postgres(compose: Compose) -> None:
    services = compose["services"]
    assert set(services) == {"nginx", "app", "worker", "migrate", "redis", "postgres"}
    assert services["app"]["deploy"]["replicas"] == 3
    assert services["app"].get("command") is None  # the image's: serve
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    built = {s["image"] for s in services.values() if "build" in s}
    assert len(built) == 1  # one image for nodes, workers and the migration
    for name in ("app", "worker", "migrate"):
        assert services[name]["image"] in built
        assert ROOT.joinpath(
            DEPLOY.relative_to(ROOT), services[name]["build"]["context"],
            services[name]["build"]["dockerfile"],
        ).resolve() == (DEPLOY / "Dockerfile").resolve()  # fmt: skip


def start_order(compose: Compose) -> list[str]:
    """The services in an order Compose can start them (fails on a cycle)."""
    services = compose["services"]
    order: list[str] = []
    while len(order) < len(services):
        ready = [
            name
            for name, s in services.items()
            if name not in order and all(d in order for d in s.get("depends_on", {}))
        ]
        assert ready, f"a depends_on cycle among {set(services) - set(order)}"
        order += sorted(ready)
    return order


@pytest.mark.parametrize(
    ("service", "dependency", "condition"),
    [
        ("migrate", "postgres", "service_healthy"),
        ("app", "migrate", "service_completed_successfully"),
        ("app", "postgres", "service_healthy"),
        ("app", "redis", "service_healthy"),
        ("worker", "migrate", "service_completed_successfully"),
        ("worker", "postgres", "service_healthy"),
        ("worker", "redis", "service_healthy"),
        ("nginx", "app", "service_healthy"),
    ],
    ids=lambda v: str(v),
)
def test_start_order(compose: Compose, service: str, dependency: str, condition: str) -> None:
    assert compose["services"][service]["depends_on"][dependency]["condition"] == condition
    order = start_order(compose)
    assert order.index(dependency) < order.index(service)


def test_conditions_wait_on_healthchecks_that_exist(compose: Compose) -> None:
    services = compose["services"]
    image_has_healthcheck = any(i["instruction"] == "HEALTHCHECK" for i in dockerfile_stages()[-1])
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            if spec["condition"] != "service_healthy":
                continue
            check = services[dependency].get("healthcheck")
            if "build" in services[dependency]:
                assert image_has_healthcheck and not (check or {}).get("disable"), dependency
            else:
                assert check and check["test"][0] in ("CMD", "CMD-SHELL"), (name, dependency)


def environment(compose: Compose, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment", {})
    return {k: interpolate_defaults(str(v)) for k, v in env.items()}


def test_nodes_trust_forwarded_headers_from_the_edge_network_only(compose: Compose) -> None:
    edge_subnets = [
        ipaddress.ip_network(interpolate_defaults(c["subnet"]))
        for c in compose["networks"]["edge"]["ipam"]["config"]
    ]
    trusted = environment(compose, "app")["COMMENTS_TRUSTED_PROXIES"].split(",")
    assert [ipaddress.ip_network(t.strip()) for t in trusted] == edge_subnets
    services = compose["services"]
    assert services["nginx"]["networks"] == ["edge"]
    assert "edge" in services["app"]["networks"]
    for backend in ("redis", "postgres", "worker", "migrate"):
        assert "edge" not in services[backend].get("networks", ["default"]), backend


@pytest.mark.parametrize("service", ["app", "worker", "migrate"])
def test_node_settings_point_at_the_composes_postgres_and_redis(
    compose: Compose, service: str
) -> None:
    env = environment(compose, service)
    settings = Settings.from_env(env)
    database = urlsplit(env["COMMENTS_DATABASE_URL"])
    pg = environment(compose, "postgres")
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
    assert database.path == "/" + pg["POSTGRES_DB"]
    assert urlsplit(settings.broker_url).hostname == "redis"
    for name in env:
        assert f'"{name}"' in (ROOT / "comments/settings.py").read_text(), name


def test_model_cache_volume_is_the_images_volume(compose: Compose) -> None:
    (image_volume,) = [
        json.loads(i["value"])[0] for i in dockerfile_stages()[-1] if i["instruction"] == "VOLUME"
    ]
    for service in ("app", "worker"):
        mounts = dict(
            m.split(":")[:2][::-1] for m in compose["services"][service]["volumes"]
        )  # target → source
        assert mounts[image_volume] in compose["volumes"], service


def test_files_mounted_from_the_repository_exist(compose: Compose) -> None:
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source


# nginx.conf: read into nested blocks, since there is no nginx >= 1.27.3 here to run -t.


def parse_nginx(text: str) -> list[Any]:
    """nginx's syntax as [name, args, children-or-None] entries."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', text)
    root: list[Any] = []
    stack, words = [root], []
    for token in tokens:
        if token == ";":
            stack[-1].append([words[0], words[1:], None])
            words = []
        elif token == "{":
            block: list[Any] = []
            stack[-1].append([words[0], words[1:], block])
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated {words}"
            stack.pop()
        else:
            words.append(token.strip("\"'"))
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


def find(block: list[Any], name: str, *args: str) -> list[Any]:
    return [e for e in block if e[0] == name and e[1][: len(args)] == list(args)]


def directives(block: list[Any], name: str) -> list[list[str]]:
    return [e[1] for e in block if e[0] == name]


@pytest.fixture(scope="module")
def nginx() -> list[Any]:
    return parse_nginx((DEPLOY / "nginx.conf").read_text())


@pytest.fixture(scope="module")
def server(nginx: list[Any]) -> list[Any]:
    (http,) = find(nginx, "http")
    (server,) = find(http[2], "server")
    children: list[Any] = server[2]
    return children


def test_nginx_upstream_is_every_node_on_the_images_port(
    nginx: list[Any], compose: Compose
) -> None:
    (http,) = find(nginx, "http")
    (upstream,) = find(http[2], "upstream")
    (target,) = directives(upstream[2], "server")
    host, _, port = target[0].partition(":")
    assert host == "app" and "app" in compose["services"]
    image_env = [i["value"] for i in dockerfile_stages()[-1] if i["instruction"] == "ENV"]
    assert any(f"PORT={port}" in e for e in image_env)
    # Re-resolved, so `--scale app=N` and restarted nodes are picked up.
    assert "resolve" in target and directives(http[2], "resolver")


def test_nginx_routes_every_path_to_the_nodes(server: list[Any]) -> None:
    (upstream_name,) = {
        d[0].removeprefix("http://")
        for location in find(server, "location")
        for d in directives(location[2], "proxy_pass")
    }
    assert upstream_name == "comments"
    assert find(server, "location", "/"), "no catch-all location"


def test_nginx_passes_websocket_upgrades(nginx: list[Any], server: list[Any]) -> None:
    headers = {h[0]: h[1] for h in directives(server, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade"
    assert headers["Connection"] == "$connection_upgrade"
    assert ["1.1"] in directives(server, "proxy_http_version")
    (http,) = find(nginx, "http")
    (upgrade_map,) = find(http[2], "map", "$http_upgrade", "$connection_upgrade")
    assert ["upgrade"] in directives(upgrade_map[2], "default")
    for location in find(server, "location"):
        # A location's own proxy_set_header would drop the server's: none has one.
        assert not directives(location[2], "proxy_set_header"), location[1]


def seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)([smh]?)", value)
    assert match, value
    return int(match.group(1)) * units.get(match.group(2) or "s", 1)


def test_every_socket_route_gets_the_long_timeouts(server: list[Any]) -> None:
    socket_paths = [r.path for r in create_app(Settings()).routes if isinstance(r, WebSocketRoute)]
    assert socket_paths
    long_lived = [
        loc
        for loc in find(server, "location")
        if all(seconds(d[0]) >= 3600 for d in directives(loc[2], "proxy_read_timeout"))
        and all(seconds(d[0]) >= 3600 for d in directives(loc[2], "proxy_send_timeout"))
        and directives(loc[2], "proxy_read_timeout")
        and directives(loc[2], "proxy_send_timeout")
    ]
    for path in socket_paths:
        assert any(path.startswith(loc[1][-1]) for loc in long_lived), path


def test_nginx_healthcheck_path_is_served(compose: Compose, server: list[Any]) -> None:
    test = compose["services"]["nginx"]["healthcheck"]["test"]
    path = urlsplit(test[-1]).path
    (location,) = find(server, "location", "=", path)
    assert directives(location[2], "return")[0][0] == "200"


def test_compose_mounts_this_nginx_conf(compose: Compose) -> None:
    mounts = compose["services"]["nginx"]["volumes"]
    assert any(
        (DEPLOY / m.split(":")[0]).resolve() == (DEPLOY / "nginx.conf").resolve()
        and m.split(":")[1] == "/etc/nginx/nginx.conf"
        for m in mounts
    )
