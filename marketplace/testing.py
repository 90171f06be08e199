"""The test command: linters, architecture contracts, type checks, then pytest."""

from __future__ import annotations

import subprocess
import sys

CHECKS: list[tuple[str, list[str]]] = [
    ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
    ("import contracts", ["lint-imports"]),
    ("mypy", [sys.executable, "-m", "mypy"]),
]


def run_test_suite(pytest_args: list[str]) -> int:
    """Run every check and the test suite; the first failure decides the exit code."""
    for name, command in CHECKS:
        print(f"== {name}", flush=True)
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            print(f"== {name} failed", flush=True)
            return result.returncode
    print("== pytest", flush=True)
    return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], check=False).returncode
