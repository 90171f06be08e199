"""The command tree: each process's defaults come from the registry, and usage errors are 2."""

from __future__ import annotations

from uuid import UUID

import jwt
import pytest

from marketplace.cli import main
from marketplace.registry import process


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("project", "product-detail"),
        ("rebuild", "product-detail"),
        ("labels", "labels"),
        ("notify", "notify"),
    ],
)
def test_a_batch_size_default_is_the_registrys(
    command: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())

    assert f"the registry's, {process(name).batch_size}" in help_text


def test_a_token_needs_no_arguments_and_names_its_new_subject(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["token"]) == 0
    out, err = capsys.readouterr()

    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["role"] == "shopper"
    assert err.strip() == f"subject: {UUID(claims['sub'])}"


@pytest.mark.parametrize(
    "argv", [["token", "--sub", "not-a-uuid"], ["token", "--role", "root"], ["project", "nope"]]
)
def test_bad_arguments_are_a_usage_error_not_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Invalid value" in err


def test_the_roles_are_listed_in_the_token_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--help"]) == 0
    help_text = capsys.readouterr().out

    assert all(role in help_text for role in ("shopper", "seller", "admin", "auditor"))


def test_a_mistyped_setting_stops_the_command_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARKETPLACE_JWT_SECRETT", "x" * 40)
    assert main(["token"]) == 2
    out, err = capsys.readouterr()

    assert out == ""
    assert err == (
        "marketplace: unknown MARKETPLACE_* settings: MARKETPLACE_JWT_SECRETT"
        " (did you mean MARKETPLACE_JWT_SECRET?)\n"
    )
