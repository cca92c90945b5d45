"""Logs replayed from a scenario's ``logs.jsonl``: a :class:`LogQuery` evaluated in memory.

Records after the diagnosis clock (``observed_at``) are dropped when the source is built,
so no query, whatever its window, can return them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from tools.errors import QueryError
from tools.logs.base import LogQuery, LogRecord
from tools.timeutil import parse_ts


class RecordedLogs:
    """A :class:`tools.logs.base.LogSource` over recorded log lines."""

    def __init__(self, records: Iterable[LogRecord], observed_at: datetime) -> None:
        self._observed_at = parse_ts(observed_at)
        # Naive times are taken as UTC, so that every comparison below is aware.
        aware = (r if r.ts.tzinfo else r.model_copy(update={"ts": parse_ts(r.ts)}) for r in records)
        self._records = sorted((r for r in aware if r.ts <= self._observed_at), key=lambda r: r.ts)

    def __len__(self) -> int:
        return len(self._records)

    async def query(self, query: LogQuery) -> list[LogRecord]:
        """Matching records in time order, window inclusive, at most ``limit`` (newest kept).

        Raises:
            tools.errors.QueryError: a matcher or filter holds an invalid regex.
        """
        start, end = parse_ts(query.start), min(parse_ts(query.end), self._observed_at)
        try:
            hits = [
                r
                for r in self._records
                if start <= r.ts <= end
                and all(m.matches(r.labels) for m in query.matchers)
                and all(f.matches(r.line) for f in query.filters)
            ]
        except re.error as exc:
            raise QueryError(f"invalid regular expression in log query: {exc}") from exc
        return hits[-query.limit :]
