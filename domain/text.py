"""Text bounds shared by the aggregates."""

import re

from domain.errors import InvalidValue

LINE_BREAKS = "\t\n\r"
"""The only control characters a multi-line text may hold."""
_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def bounded(
    field: str,
    value: str,
    max_length: int,
    *,
    allow_empty: bool = False,
    multiline: bool = False,
) -> str:
    """Return value stripped, or raise if it is empty (unless allowed), too long, or holds a
    control character, a line separator or a lone surrogate (tab and line breaks are allowed
    in a multi-line text)."""
    forbidden = (_MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN).search(value)
    if forbidden:
        raise InvalidValue(f"{field} must not contain the character U+{ord(forbidden[0]):04X}")
    value = value.strip()
    if not value and not allow_empty:
        raise InvalidValue(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidValue(f"{field} must be at most {max_length} characters")
    return value


def iso_country(value: str) -> str:
    """Return value if it is a two-letter upper-case ISO 3166 code, else raise."""
    if not (len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()):
        raise InvalidValue("country must be a two-letter ISO 3166 code")
    return value
