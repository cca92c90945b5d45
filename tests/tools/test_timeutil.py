"""tools.timeutil: the timestamp forms the scenario format allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tools.timeutil import iso, parse_ts

T = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2024-12-14T03:12:00Z",
        "2024-12-14T03:12:00z",
        "2024-12-14T04:12:00+01:00",
        "2024-12-13T22:12:00-05:00",
        " 2024-12-14T03:12:00Z ",
        1734145920,
        1734145920.0,
    ],
)
def test_same_instant_in_every_form(value: object) -> None:
    parsed = parse_ts(value)
    assert parsed == T
    assert parsed.utcoffset() == timedelta(0)


def test_nanoseconds_are_truncated_to_microseconds() -> None:
    parsed = parse_ts("2018-08-03T09:52:26.739266876+02:00")
    assert parsed == datetime(2018, 8, 3, 7, 52, 26, 739266, tzinfo=UTC)


def test_short_fraction_is_padded() -> None:
    assert parse_ts("2024-12-14T03:12:00.5Z").microsecond == 500000


def test_float_seconds_keep_the_fraction() -> None:
    assert parse_ts(1734145920.25) == T + timedelta(milliseconds=250)


def test_naive_datetime_is_taken_as_utc_and_aware_kept() -> None:
    assert parse_ts(datetime(2024, 12, 14, 3, 12)) == T
    plus_one = datetime(2024, 12, 14, 4, 12, tzinfo=timezone(timedelta(hours=1)))
    assert parse_ts(plus_one) == T


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("2024-12-14T03:12:00", "no time zone"),
        ("yesterday", "not an RFC 3339"),
        ("", "expected RFC 3339"),
        (True, "boolean"),
        (None, "expected RFC 3339"),
        ([1], "expected RFC 3339"),
    ],
)
def test_bad_values_are_refused_with_what_was_given(value: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_ts(value)


def test_iso_writes_z_and_round_trips() -> None:
    assert iso(T) == "2024-12-14T03:12:00Z"
    assert iso(parse_ts("2024-12-14T04:12:00+01:00")) == "2024-12-14T03:12:00Z"
    assert parse_ts(iso(T + timedelta(microseconds=5))) == T + timedelta(microseconds=5)
