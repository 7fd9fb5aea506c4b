"""Names the deploy files, README.md and docs/*.md use must exist: every COMMENTS_* variable
is a setting comments/settings.py reads, one the entrypoint reads itself, or one of the
test suite's (tests/conftest.py, for the servers the tests use).

(Links between those documents are checked by tests/test_docs.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT

NAME = re.compile(r"\bCOMMENTS_[A-Z0-9_]*[A-Z0-9]\b")
FILES = sorted(
    [p for p in DEPLOY.rglob("*") if p.is_file()]
    + [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
)
# Names the contract fixes for a later version and the server does not read yet: the API
# reference lists them as not yet served.
NOT_YET_READ: dict[Path, set[str]] = {}


def known_names() -> set[str]:
    settings = set(
        re.findall(r'"(COMMENTS_[A-Z0-9_]+)"', (ROOT / "comments/settings.py").read_text())
    )
    entrypoint = set(NAME.findall((DEPLOY / "entrypoint.sh").read_text()))
    assert "COMMENTS_DATABASE_URL" in settings and "COMMENTS_MIGRATE" in entrypoint
    # What the test script reads as ${NAME:-default} (the torch index it installs from).
    script = set(re.findall(r"\$\{(COMMENTS_[A-Z0-9_]+)", (ROOT / "scripts/test").read_text()))
    tests = set(
        re.findall(r'"(COMMENTS_TEST_[A-Z0-9_]+)"', (ROOT / "tests/conftest.py").read_text())
    )
    return settings | entrypoint | script | tests


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_comments_variable_named_is_read_somewhere(path: Path) -> None:
    unknown = set(NAME.findall(path.read_text())) - known_names()
    assert unknown <= NOT_YET_READ.get(path, set())
