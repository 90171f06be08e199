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
