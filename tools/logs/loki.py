"""Logs from a live Grafana Loki over its HTTP API (``/loki/api/v1/query_range``), with httpx.

A :class:`tools.logs.base.LogQuery` is rendered to LogQL by :func:`tools.logs.logql.render_logql`
(every value escaped); the window is clamped to the incident clock (``observed_at``, never
later than now) and read in pages: Loki returns at most ``limit`` lines per call, so the
next page moves the window edge to the last timestamp seen and drops the lines already
read at that exact nanosecond.

Errors: Loki's 400 answers (plain-text LogQL parse errors) are QueryError with Loki's text;
401/403 is :class:`tools.http_auth.AuthenticationFailed`; connection errors, timeouts, 429
and 5xx are retried a bounded number of times with backoff, then SourceUnavailable.

No Loki server can run on the development machines, so this client is tested against
Loki's documented HTTP response format. It must not print, and it never puts credentials
in a message or a log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import httpx

from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import HttpAuth, RetryPolicy, error_text, get_with_retries, redact_url
from tools.logs.base import LogQuery, LogRecord
from tools.logs.logql import render_logql
from tools.metrics.base import Series
from tools.metrics.result import to_series
from tools.timeutil import parse_ts

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Direction = Literal["backward", "forward"]
_Key = tuple[int, tuple[tuple[str, str], ...], str]  # (ns, sorted labels, line)


def _ns(ts: datetime) -> int:
    delta = parse_ts(ts) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


class LokiLogs:
    """A :class:`tools.logs.base.LogSource` over a live Loki.

    Use as ``async with LokiLogs(url, auth=..., observed_at=...) as logs: ...`` (or call
    :meth:`aclose`).
    """

    def __init__(
        self,
        url: str,
        *,
        auth: HttpAuth | None = None,
        org_id: str | None = None,
        observed_at: datetime | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
        max_entries: int = 5000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """
        Args:
            url: base URL of Loki (or of a gateway in front of it).
            auth: credentials and TLS settings; none by default.
            org_id: tenant, sent as ``X-Scope-OrgID`` (multi-tenant Loki).
            observed_at: the incident clock: no line after it is returned. None: now.
            timeout_s: per HTTP attempt.
            retry: retries after a connection error, timeout, 429 or 5xx (default
                :class:`RetryPolicy`'s).
            page_size: most new lines asked for in one request.
            max_entries: the server's ``max_entries_limit_per_query`` (Loki's default
                5000): a request never asks for more, even to get past many lines that
                share one timestamp.
            transport: an httpx transport (tests pass ``httpx.MockTransport``).

        Raises:
            ValueError: page_size below 1 or above max_entries.
            tools.errors.SourceUnavailable: the CA file cannot be read.
        """
        if not 1 <= page_size <= max_entries:
            raise ValueError(f"page_size must be between 1 and max_entries ({max_entries})")
        self.url = redact_url(url.rstrip("/"))
        self.observed_at = parse_ts(observed_at) if observed_at is not None else None
        self._retry = retry or RetryPolicy()
        self._page_size, self._max_entries = page_size, max_entries
        self._http = (auth or HttpAuth()).httpx_client(
            url.rstrip("/"),
            timeout_s=timeout_s,
            headers={"X-Scope-OrgID": org_id} if org_id else None,
            transport=transport,
        )

    def clock(self) -> datetime:
        """The latest time a query may see: ``observed_at``, never later than now."""
        now = datetime.now(UTC)
        return now if self.observed_at is None else min(self.observed_at, now)

    async def __aenter__(self) -> LokiLogs:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def query(self, query: LogQuery) -> list[LogRecord]:
        """Matching lines in time order, at most ``query.limit``, the newest kept.

        Raises: as :meth:`query_range`.
        """
        return await self.query_range(query, direction="backward")

    async def query_range(
        self, query: LogQuery, *, direction: Direction = "backward"
    ) -> list[LogRecord]:
        """Matching lines in ``[start, min(end, clock())]``, returned in time order.

        Args:
            query: the structured query; ``query.limit`` caps the total over all pages.
            direction: which end of the window is read first, so which lines are kept
                when the limit is reached: ``backward`` keeps the newest, ``forward`` the
                oldest.

        Raises:
            ValueError: a label name LogQL cannot express.
            tools.errors.QueryError: Loki rejected the query (its message included).
            tools.errors.SourceUnavailable: Loki cannot be reached, or still fails after
                the retries (AuthenticationFailed when it refuses the credentials).
        """
        logql = render_logql(query)
        clock = self.clock()
        if parse_ts(query.start) > clock:
            return []
        lo = _ns(query.start)  # Loki: start inclusive, end exclusive
        hi = _ns(min(parse_ts(query.end), clock)) + 1
        got: list[tuple[_Key, dict[str, str]]] = []
        edge: set[_Key] = set()  # lines already read at the current window edge
        while len(got) < query.limit and lo < hi:
            # Lines at the edge come again; ask for that many more, within the server's cap.
            ask = min(self._page_size, query.limit - len(got)) + len(edge)
            ask = min(ask, self._max_entries)
            page = await self._streams(logql, lo, hi, ask, direction)
            fresh = [entry for entry in page if entry[0] not in edge]
            got += fresh[: query.limit - len(got)]
            if len(page) < ask:
                break  # the window is exhausted
            edge_ns = (
                min(k[0] for k, _ in page)
                if direction == "backward"
                else max(k[0] for k, _ in page)
            )
            if not fresh:  # one nanosecond holds more lines than max_entries: skip past it
                log.warning(
                    "Loki at %s: more than %d lines at %s; the rest of them are skipped",
                    self.url, ask, _from_ns(edge_ns),
                )  # fmt: skip
                edge_ns += -1 if direction == "backward" else 1
                edge = set()
            else:
                edge = {k for k, _ in got if k[0] == edge_ns}
            if direction == "backward":
                hi = edge_ns + 1
            else:
                lo = edge_ns
        got.sort(key=lambda entry: entry[0][0])
        return [
            LogRecord(ts=_from_ns(ns), labels=labels, line=line) for (ns, _, line), labels in got
        ]

    async def count_over_time(self, query: LogQuery, step_s: float) -> list[Series]:
        """Matching lines per ``step_s`` window and stream over the query's window (a matrix).

        Raises: as :meth:`query_range`.
        """
        clock = self.clock()
        if parse_ts(query.start) > clock:
            return []
        logql = f"count_over_time({render_logql(query)} [{round(step_s * 1000)}ms])"
        params = {
            "query": logql,
            "start": str(_ns(query.start)),
            "end": str(_ns(min(parse_ts(query.end), clock))),
            "step": f"{step_s:g}",
        }
        data = await self._get(params)
        if data.get("resultType") != "matrix":
            raise QueryError(f"Loki answered {data.get('resultType')!r}, not a matrix, to {logql}")
        try:
            return to_series(data.get("result") or [])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SourceUnavailable(f"Loki at {self.url} sent a malformed matrix: {exc!r}") from exc

    async def _streams(
        self, logql: str, lo: int, hi: int, limit: int, direction: Direction
    ) -> list[tuple[_Key, dict[str, str]]]:
        """One page: ``(key, labels)`` per line, in the order of ``direction``."""
        params = {
            "query": logql,
            "start": str(lo),
            "end": str(hi),
            "limit": str(limit),
            "direction": direction,
        }
        data = await self._get(params)
        if data.get("resultType") != "streams":
            raise QueryError(
                f"Loki answered a {data.get('resultType')!r} result to the log query {logql}"
            )
        entries: list[tuple[_Key, dict[str, str]]] = []
        try:
            for stream in data.get("result") or []:
                labels = {str(k): str(v) for k, v in stream["stream"].items()}
                frozen = tuple(sorted(labels.items()))
                for value in stream["values"]:  # [ns, line] or [ns, line, {metadata}]
                    ns, line = int(value[0]), str(value[1])
                    entries.append(((ns, frozen, line), labels))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SourceUnavailable(
                f"Loki at {self.url} sent a malformed streams result: {exc!r}"
            ) from exc
        entries.sort(key=lambda entry: entry[0][0], reverse=direction == "backward")
        return entries

    async def _get(self, params: dict[str, str]) -> dict[str, Any]:
        """``data`` of a successful query_range answer, after bounded retries."""
        response = await get_with_retries(
            self._http, "/loki/api/v1/query_range", params,
            what="Loki", url=self.url, retry=self._retry,
        )  # fmt: skip
        if response.status_code != 200:
            raise QueryError(f"Loki refused {params['query']}: {error_text(response)}")
        try:
            body = response.json()
            data: dict[str, Any] = body["data"]
            if body.get("status") != "success" or not isinstance(data, dict):
                raise ValueError(f"status {body.get('status')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceUnavailable(
                f"Loki at {self.url} did not send a query result: {exc}"
            ) from exc
        for warning in body.get("warnings") or []:
            log.warning("Loki at %s: %s (query %s)", self.url, warning, params["query"])
        return data
