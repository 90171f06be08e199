"""Text bounds: control characters, separators and lone surrogates never enter an event."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.text import bounded


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "\x07",
        "\t",
        "\n",
        "\r",
        "\x1b",
        "\x7f",
        "\x9f",
        "\u2028",
        "\u2029",
        "\ud800",
        "\udfff",
    ],
)
def test_one_line_text_refuses_controls_separators_and_surrogates(char: str) -> None:
    with pytest.raises(
        InvalidValue, match=f"title must not contain the character U\\+{ord(char):04X}"
    ):
        bounded("title", f"Lamp{char}shade", 200)


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\ud800"])
def test_multi_line_text_refuses_controls_other_than_tab_and_line_breaks(char: str) -> None:
    with pytest.raises(InvalidValue, match="description must not contain"):
        bounded("description", f"Warm{char}light", 5000, multiline=True)


def test_multi_line_text_keeps_tabs_and_line_breaks_inside() -> None:
    text = "Warm light.\r\nDimmable:\tyes"
    assert bounded("description", f" {text}\n", 5000, multiline=True) == text


@pytest.mark.parametrize("text", ["Lamp \u202e shade", "\U0001f600", "Łódź", "x" * 200])
def test_printable_text_of_any_script_passes(text: str) -> None:
    assert bounded("title", text, 200) == text


def test_length_is_checked_after_surrounding_blanks_are_removed() -> None:
    assert bounded("title", "  " + "x" * 200 + "  ", 200) == "x" * 200
    with pytest.raises(InvalidValue, match="at most 200"):
        bounded("title", "x" * 201, 200)
