"""uvicorn's access log line for an erasure names the route, never the caller's number."""

from __future__ import annotations

import logging

from aybiza.access_log import CallerPathFilter


def _access_record(path: str) -> logging.LogRecord:
    # The record uvicorn.protocols.http makes for each response.
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "DELETE", path, "1.1", 200),
        None,
    )


def test_the_callers_number_is_replaced_by_the_routes_template() -> None:
    record = _access_record("/v1/callers/%2B15551234567")
    assert CallerPathFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "DELETE /v1/callers/{number} HTTP/1.1" 200'
    plain = _access_record("/v1/callers/+15551234567?x=1")
    CallerPathFilter().filter(plain)
    assert "15551234567" not in plain.getMessage()


def test_other_paths_are_logged_as_they_are() -> None:
    record = _access_record("/v1/calls/CA123")
    CallerPathFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "DELETE /v1/calls/CA123 HTTP/1.1" 200'
