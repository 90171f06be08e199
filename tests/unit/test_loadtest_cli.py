"""`marketplace loadtest` and `seed-demo` stay in the CLI, and say how to get what they lack."""

from __future__ import annotations

import sys

import pytest

from marketplace.cli import main

HINT = "install the loadtest extra: pip install -e '.[loadtest]'"


@pytest.mark.parametrize(
    "argv", [["loadtest"], ["loadtest", "--users", "5", "-h"], ["seed-demo", "--sellers", "3"]]
)
def test_without_the_loadtest_package_both_commands_answer_with_the_hint(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "loadtest", None)  # as in the image: no such package
    assert main(argv) == 2
    assert HINT in capsys.readouterr().err


@pytest.mark.parametrize("package", ["locust", "matplotlib"])
def test_loadtest_without_the_extra_names_what_is_missing(
    package: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, package, None)
    assert main(["loadtest", "--duration", "5"]) == 2
    assert f"no {package}; {HINT}" in capsys.readouterr().err
