"""The test command: linters, architecture contracts, type checks, then pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

CHECKS: list[tuple[str, list[str]]] = [
    ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
    ("import contracts", [str(VENV_BIN / "lint-imports")]),
    ("mypy", [sys.executable, "-m", "mypy"]),
]


def run_test_suite(pytest_args: list[str]) -> int:
    """Run every check and the test suite; the first failure decides the exit code.

    The virtualenv's bin folder leads PATH, so the tests find the console scripts.
    """
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name, command in CHECKS:
        print(f"== {name}", flush=True)
        result = subprocess.run(command, check=False, env=env)
        if result.returncode != 0:
            print(f"== {name} failed", flush=True)
            return result.returncode
    print("== pytest", flush=True)
    pytest = [sys.executable, "-m", "pytest", *pytest_args]
    return subprocess.run(pytest, check=False, env=env).returncode
