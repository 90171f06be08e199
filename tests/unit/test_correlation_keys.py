"""The correlation keys an append takes from its events, as the backfill reads them."""

from __future__ import annotations

from infra.audit.postgres_correlation import CorrelationTable


def test_each_document_gives_its_correlation_id_and_time_or_blanks() -> None:
    at = {"_type_": "datetime_iso", "_data_": "2026-12-07T10:00:00+00:00"}
    states = [
        b'{"meta": {"correlation_id": "c-1"}, "timestamp": %b}'
        % str(at).replace("'", '"').encode(),
        b'{"meta": {"correlation_id": ""}, "timestamp": {"_data_": "2026-12-07T10:00:00+00:00"}}',
        b'{"timestamp": {"_data_": "2026-12-07T10:00:00+00:00"}}',
        b'{"meta": {"correlation_id": "c-2"}}',
        b'{"meta": {"correlation_id": 7}, "timestamp": {"_data_": "x"}}',
        b"\x00 not json",
        b"[1, 2]",
    ]
    ids, times = CorrelationTable.keys(states)
    assert ids == ["c-1", "", "", "", "", "", ""]
    assert times == ["2026-12-07T10:00:00+00:00", "2026-12-07T10:00:00+00:00", "", "", "", "", ""]
