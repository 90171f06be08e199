"""The README's first checkout by hand, run as written against a real `marketplace up`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
WALKTHROUGH = re.compile(r"<!-- walkthrough -->\n```sh\n(.*?)```", re.DOTALL)
TIMEOUT_SECONDS = 180


def walkthrough() -> str:
    """The shell session the README shows after its walkthrough marker."""
    found = WALKTHROUGH.search(README.read_text())
    assert found, "the README has no walkthrough block"
    return found.group(1)


def test_the_readme_walkthrough_checks_out_an_order(stack: Stack) -> None:
    stack.start()
    env = {
        **stack.env(),
        "API": stack.url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    session = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", walkthrough()],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert session.returncode == 0, session.stdout + session.stderr
    lines = session.stdout.splitlines()
    assert f"order: http://127.0.0.1:{stack.read_port}/v1/me/orders/" in session.stdout
    assert lines[-1] == "order confirmed"
    assert "Traceback" not in session.stderr
