"""The domain stays pure: only the standard library, eventsourcing.domain and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_stdlib_and_eventsourcing_domain() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert files, "no domain modules found"
    offenders = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "eventsourcing.domain"
        and name.split(".")[0] != "domain"
    }
    assert offenders == set()


def test_domain_never_reads_the_clock_or_randomness() -> None:
    forbidden = ("datetime.now", "utcnow", "uuid4", "random.", "time.time", "os.environ")
    offenders = [
        f"{path.name}: {word}"
        for path in sorted(DOMAIN.glob("*.py"))
        for word in forbidden
        if word in path.read_text()
    ]
    assert offenders == []
