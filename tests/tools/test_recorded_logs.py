"""tools.logs.recorded: LogQuery over recorded lines; nothing after observed_at is visible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tools.errors import QueryError
from tools.logs.base import LabelMatcher, LineFilter, LogQuery, LogRecord
from tools.logs.recorded import RecordedLogs

T0 = datetime(2024, 12, 14, 3, 0, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=10)


def rec(minute: int, line: str, **labels: str) -> LogRecord:
    return LogRecord(ts=T0 + timedelta(minutes=minute), labels=labels, line=line)


RECORDS = [
    rec(5, "[ERROR] plugin/errors: read udp timeout", app="coredns", namespace="kube-system"),
    rec(1, "[INFO] started", app="coredns", namespace="kube-system"),
    rec(3, "GET /api 200", app="web", namespace="shop"),
    rec(7, "[ERROR] plugin/errors: i/o timeout", app="coredns", namespace="kube-system"),
    rec(10, "[ERROR] at the clock", app="coredns", namespace="kube-system"),
    rec(11, "[ERROR] after the clock", app="coredns", namespace="kube-system"),
    rec(30, "[ERROR] much later", app="coredns", namespace="kube-system"),
]
COREDNS = LabelMatcher(label="app", value="coredns")


def q(
    *matchers: LabelMatcher,
    filters: tuple[LineFilter, ...] = (),
    start: datetime = T0,
    end: datetime = T0 + timedelta(hours=1),
    limit: int = 5000,
) -> LogQuery:
    return LogQuery(
        matchers=matchers or (COREDNS,), filters=filters, start=start, end=end, limit=limit
    )


@pytest.fixture
def logs() -> RecordedLogs:
    return RecordedLogs(RECORDS, OBSERVED)


async def test_later_lines_are_dropped_at_construction(logs: RecordedLogs) -> None:
    assert len(logs) == 5
    lines = [r.line for r in await logs.query(q(LabelMatcher(label="app", op="=~", value=".*")))]
    assert not any("after the clock" in line or "much later" in line for line in lines)


async def test_time_ordered_and_end_clamped(logs: RecordedLogs) -> None:
    got = await logs.query(q())
    assert [r.ts.minute for r in got] == [1, 5, 7, 10]  # 10 == observed_at is included


async def test_window_is_inclusive(logs: RecordedLogs) -> None:
    got = await logs.query(q(start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=7)))
    assert [r.ts.minute for r in got] == [5, 7]


async def test_window_entirely_after_observed_at_is_empty(logs: RecordedLogs) -> None:
    assert await logs.query(q(start=T0 + timedelta(minutes=11))) == []


async def test_matchers_all_apply(logs: RecordedLogs) -> None:
    got = await logs.query(
        q(
            LabelMatcher(label="namespace", value="kube-system"),
            LabelMatcher(label="app", op="!=", value="coredns"),
        )
    )
    assert got == []
    got = await logs.query(q(LabelMatcher(label="namespace", op="=~", value="shop|web")))
    assert [r.line for r in got] == ["GET /api 200"]


async def test_line_filters(logs: RecordedLogs) -> None:
    errors = (LineFilter(value="[ERROR]"), LineFilter(op="!=", value="i/o"))
    assert [r.ts.minute for r in await logs.query(q(filters=errors))] == [5, 10]
    regex = (LineFilter(op="|~", value=r"(udp|i/o) timeout"),)
    assert [r.ts.minute for r in await logs.query(q(filters=regex))] == [5, 7]
    negated = (LineFilter(op="!~", value="ERROR"),)
    assert [r.line for r in await logs.query(q(filters=negated))] == ["[INFO] started"]


async def test_limit_keeps_the_newest(logs: RecordedLogs) -> None:
    got = await logs.query(q(limit=2))
    assert [r.ts.minute for r in got] == [7, 10]


async def test_naive_times_are_utc() -> None:
    naive = LogRecord(ts=datetime(2024, 12, 14, 3, 9), labels={"app": "coredns"}, line="x")
    logs = RecordedLogs([naive], OBSERVED.replace(tzinfo=None))
    got = await logs.query(q(start=datetime(2024, 12, 14, 3, 0)))
    assert len(got) == 1 and got[0].ts.tzinfo is not None


async def test_invalid_regex_is_a_query_error(logs: RecordedLogs) -> None:
    with pytest.raises(QueryError, match="invalid regular expression"):
        await logs.query(q(LabelMatcher(label="app", op="=~", value="(")))
