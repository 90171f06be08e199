"""The domain stays pure: only the standard library, eventsourcing.domain and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
REFERENCE_DATA = {"iso4217"}
"""Packages of pure reference data (no I/O, no clock) the domain may read: ISO's own tables."""


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
        and name.split(".")[0] not in {"domain", *REFERENCE_DATA}
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


ROOT = DOMAIN.parent
RUNTIME = (
    "domain",
    "commands",
    "projections",
    "workers",
    "readapi",
    "writeapi",
    "infra",
    "marketplace",
    "loadtest",
    "benchmarks",
)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def source_files() -> list[Path]:
    return sorted(p for package in RUNTIME for p in (ROOT / package).rglob("*.py"))


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]


def test_no_module_outside_the_tests_is_over_400_lines() -> None:
    files = source_files()
    assert len(files) > 100
    long = [
        f"{p.relative_to(ROOT)} ({n})"
        for p in files
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_outside_the_tests_is_over_60_lines() -> None:
    assert [found for path in source_files() for found in long_functions(path)] == []


def test_the_size_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    body = "\n".join(f"    x = {n}" for n in range(MAX_FUNCTION_LINES))
    sample = ROOT / "tests" / "unit" / "_size_sample.py"
    sample.write_text(f"def long():\n{body}\n")
    try:
        assert long_functions(sample) == ["tests/unit/_size_sample.py:1 long (61 lines)"]
    finally:
        sample.unlink()
