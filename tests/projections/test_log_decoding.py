"""The log reader's decoder gives what the library's JSON transcoder gives, in storable text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given
from hypothesis import strategies as st

from projections.log import FastJSONTranscoder, storable


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    Application.register_transcodings(Application.__new__(Application), transcoder)
    return transcoder


LIBRARY = registered(JSONTranscoder())
FAST = registered(FastJSONTranscoder())

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.text(st.sampled_from("a\x00\u202e\U0001f600"), max_size=4)
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
)
keys = st.sampled_from(["_type_", "_data_", "a", "b", "lines"]) | st.text(max_size=6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def outcome(transcoder: JSONTranscoder, data: bytes) -> Any:
    """What decoding gives: the object, or the kind of error it raises."""
    try:
        return transcoder.decode(data)
    except Exception as error:
        return type(error)


@given(st.dictionaries(keys, values, max_size=6))
def test_any_event_state_decodes_the_same(state: dict[str, Any]) -> None:
    encoded = LIBRARY.encode(state)

    assert outcome(FAST, encoded) == storable(outcome(LIBRARY, encoded))


def test_an_event_with_nested_transcoded_values_decodes_the_same() -> None:
    at = datetime(2025, 3, 1, 9, 15, tzinfo=UTC)
    state = {
        "timestamp": at,
        "meta": {"event_id": "e", "actor": "a"},
        "lines": [{"product_id": Decimal("1.50"), "unit_price": {"minor": 1, "currency": "EUR"}}],
        "expires_at": at,
    }
    encoded = LIBRARY.encode(state)

    assert FAST.decode(encoded) == LIBRARY.decode(encoded) == state


def test_an_unknown_transcoding_is_refused() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        FAST.decode(b'{"x":{"_type_":"nope","_data_":1}}')


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(b'{"title":"a\\u0000b"}', {"title": "a\ufffdb"}, id="nul"),
        pytest.param(b'{"title":"a\\ud800b"}', {"title": "a\ufffdb"}, id="lone-high-surrogate"),
        pytest.param(b'{"t":["\\uDFFF"]}', {"t": ["\ufffd"]}, id="lone-low-surrogate-upper-case"),
        pytest.param(b'{"a\\u0000":{"b":1}}', {"a\ufffd": {"b": 1}}, id="nul-in-a-key"),
        pytest.param(b'{"t":"\\ud83d\\ude00"}', {"t": "\U0001f600"}, id="surrogate-pair-kept"),
        pytest.param(b'{"t":"\\\\u0000"}', {"t": "\\u0000"}, id="escaped-backslash-kept"),
        pytest.param(
            b'{"n":12345678901234567890,"t":"\\u0000"}',
            {"n": 12345678901234567890, "t": "\ufffd"},
            id="long-number-path",
        ),
    ],
)
def test_text_no_store_can_hold_becomes_the_replacement_character(
    document: bytes, expected: dict[str, Any]
) -> None:
    assert FAST.decode(document) == expected


def test_transcoded_values_inside_awkward_documents_are_still_revived() -> None:
    at = datetime(2025, 3, 1, 9, 15, tzinfo=UTC)
    encoded = LIBRARY.encode({"title": "x\x00", "at": at})

    assert FAST.decode(encoded) == {"title": "x\ufffd", "at": at}
