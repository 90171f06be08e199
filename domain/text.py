"""Text bounds shared by the aggregates."""

from domain.errors import InvalidValue


def bounded(field: str, value: str, max_length: int, *, allow_empty: bool = False) -> str:
    """Return value stripped, or raise if it is empty (unless allowed) or too long."""
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
