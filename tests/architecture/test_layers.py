"""The package's layout holds: no import cycles, and each layer imports only what it may.

The graph is read from the source (every ``import``, at module level or inside a
function, except under ``if TYPE_CHECKING:``), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import comments

PACKAGE = Path(comments.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (the deepest module each names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), leaving out a
    package and its own submodules importing each other, which is how packages work."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 and not _package_and_children(component):
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package_and_children(component: list[str]) -> bool:
    return all(
        any(a.startswith(b + ".") or b.startswith(a + ".") for b in component if b != a)
        for a in component
    )


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(
    tmp_path: Path,
) -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from comments.node import Node\n")
    assert "comments.node" in imports_of("comments.x", lazy, set(modules()))
    typed = tmp_path / "typed.py"
    typed.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import comments.node\n"
    )
    assert imports_of("comments.x", typed, set(modules())) == set()


# What each layer must not import: use cases know no HTTP, the pure parts no I/O.
FORBIDDEN = {
    "comments.moderation": ("comments.web", "comments.server", "comments.cli"),
    "comments.scoring": ("comments.web", "comments.server", "comments.cli"),
    "comments.live": ("comments.web", "comments.server", "comments.cli"),
    "comments.store": ("comments.web", "comments.server", "comments.node", "comments.live"),
    "comments.infra": ("comments.web", "comments.server", "comments.node", "comments.live"),
    # Logs read their settings; metrics depend on nothing of ours.
    "comments.observability": (
        "comments.web",
        "comments.server",
        "comments.node",
        "comments.store",
    ),
    "comments.observability.metrics": ("comments.",),
    "comments.errors": ("comments.web", "comments.server"),
    "comments.node": ("comments.web", "comments.server", "comments.cli"),
    # Imports and exports: a CLI's use case, below the command line and beside the web.
    "comments.transfer": ("comments.web", "comments.server", "comments.cli", "comments.node"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(layer: str) -> None:
    graph = import_graph()
    bad = {
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if any(target.startswith(prefix) for prefix in FORBIDDEN[layer])
        and not target.startswith(layer)
    }
    assert not bad


@pytest.mark.parametrize(
    "module", ["comments.scoring.worker", "comments.moderation.submit", "comments.node"]
)
def test_use_cases_and_the_worker_load_without_the_web_stack(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_top_level_names_each_part() -> None:
    """`ls comments/`: one room per part, nothing left loose but the entry points and the
    domain's shared vocabulary."""
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == {
        "__init__.py",
        "__main__.py",
        "argtypes.py",
        "cli.py",
        "demo.py",
        "errors.py",
        "models.py",
        "node.py",
        "settings.py",
        "sites.py",
    }


def test_one_uvicorn_config_builder_for_serve_demo_and_test_servers() -> None:
    """``uvicorn.Config`` is built in ``comments.server.config`` only. The bench's
    baseline servers are other products on purpose (bare websockets, a broadcaster
    design) and build their own."""
    allowed = {PACKAGE / "server" / "config.py", PACKAGE / "bench" / "baselines.py"}
    tests = Path(__file__).parents[1]
    builders = {
        path
        for root in (PACKAGE, tests)
        for path in root.rglob("*.py")
        if path != Path(__file__) and "uvicorn.Config(" in path.read_text(encoding="utf-8")
    }
    assert builders <= allowed
    uvicorn_users = {
        module
        for module, path in modules().items()
        if re.search(r"^\s*(from|import) uvicorn", path.read_text(encoding="utf-8"), re.M)
    }
    assert uvicorn_users <= {
        "comments.server.config",
        "comments.server.http_protocol",
        "comments.server.ws_protocol",
        "comments.bench.baselines",
    }
