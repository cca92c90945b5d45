"""tools.logs.loki against Loki's documented HTTP API wire format.

No Loki server can run on the development machines (no registry ships it), so these tests
serve Loki's documented response format through ``httpx.MockTransport``: a small in-memory
``/loki/api/v1/query_range`` that follows the documented semantics (``start`` inclusive,
``end`` exclusive, nanosecond timestamps, ``limit`` lines, ``direction``), answering
``{"status":"success","data":{"resultType":"streams","result":[{"stream":{...},
"values":[["<ns>","line"],...]}]}}`` for log queries and ``resultType: matrix`` for metric
queries, plain-text 400 bodies for LogQL parse errors, and 429/5xx bodies as Loki sends them.
Reference: Grafana Loki HTTP API, "Query logs within a range of time".
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import AuthenticationFailed, HttpAuth, RetryPolicy
from tools.logs.base import LabelMatcher, LineFilter, LogQuery
from tools.logs.logql import render_logql
from tools.logs.loki import LokiLogs

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
FAST = RetryPolicy(retries=2, backoff_s=0.001)

Line = tuple[int, dict[str, str], str]  # (ns, stream labels, text)


class FakeLoki:
    """Loki's query_range semantics over in-memory lines; records every request."""

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines
        self.requests: list[httpx.Request] = []
        self.failures: list[httpx.Response] = []  # answered first, one per request

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)
        assert request.url.path == "/loki/api/v1/query_range"
        p = request.url.params
        lo, hi = int(p["start"]), int(p["end"])
        if p["query"].startswith("count_over_time("):
            return httpx.Response(200, json=self._matrix(lo, hi, float(p["step"])))
        backward = p["direction"] == "backward"
        hits = sorted((x for x in self.lines if lo <= x[0] < hi), key=lambda x: x[0])
        if backward:
            hits.reverse()
        hits = hits[: int(p["limit"])]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for ns, labels, text in hits:
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(ns), text])
        result = [{"stream": dict(k), "values": v} for k, v in streams.items()]
        body = {
            "status": "success",
            "data": {"resultType": "streams", "result": result, "stats": {"summary": {}}},
        }
        return httpx.Response(200, json=body)

    def _matrix(self, lo: int, hi: int, step_s: float) -> dict[str, object]:
        step = int(step_s * 1e9)
        values = []
        for t in range(lo, hi + 1, step):
            count = sum(1 for ns, _, _ in self.lines if t - step < ns <= t)
            values.append([t / 1e9, str(count)])
        result = [{"metric": {"app": "web"}, "values": values}]
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def loki(fake: FakeLoki, **kwargs: object) -> LokiLogs:
    transport = httpx.MockTransport(fake.handler)
    return LokiLogs("http://loki.test:3100", transport=transport, retry=FAST, **kwargs)  # type: ignore[arg-type]


def query(minutes: int = 10, limit: int = 5000, **kwargs: object) -> LogQuery:
    return LogQuery(
        matchers=(LabelMatcher(label="app", value="web"),),
        start=T0,
        end=T0 + timedelta(minutes=minutes),
        limit=limit,
        **kwargs,  # type: ignore[arg-type]
    )


def web(i: int, pod: str = "web-1", *, ns: int | None = None) -> Line:
    return (T0_NS + i * 1_000_000_000 if ns is None else ns, {"app": "web", "pod": pod}, f"l{i}")


async def test_renders_logql_and_sends_window_auth_and_tenant() -> None:
    fake = FakeLoki([web(1)])
    tricky = LogQuery(
        matchers=(
            LabelMatcher(label="app", value='we"b'),
            LabelMatcher(label="pod", op="=~", value="web-.*"),
        ),
        filters=(LineFilter(value='say "hi" \\ now'), LineFilter(op="!~", value="debug|trace")),
        start=T0,
        end=T0 + timedelta(minutes=5),
    )
    auth = HttpAuth(username="strata", password="s3cret-pw")
    async with loki(fake, auth=auth, org_id="lab") as logs:
        await logs.query(tricky)
    (req,) = fake.requests
    assert req.url.params["query"] == render_logql(tricky)
    assert req.url.params["query"] == (
        '{app="we\\"b", pod=~"web-.*"} |= "say \\"hi\\" \\\\ now" !~ "debug|trace"'
    )
    assert req.url.params["start"] == str(T0_NS)
    assert req.url.params["end"] == str(T0_NS + 300 * 1_000_000_000 + 1)  # end is exclusive
    assert req.url.params["direction"] == "backward"
    assert req.headers["X-Scope-OrgID"] == "lab"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"strata:s3cret-pw").decode()
    assert "s3cret-pw" not in repr(auth) and "s3cret-pw" not in str(auth)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"password": "x"}, "needs a username"),
        ({"username": "u", "bearer_token": "t"}, "either basic auth"),
        ({"insecure": True, "ca_file": "/etc/ssl/ca.pem"}, "exclude each other"),
    ],
)
def test_auth_settings_refuse_contradictions(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HttpAuth.model_validate(fields)


async def test_bearer_token_header() -> None:
    fake = FakeLoki([])
    async with loki(fake, auth=HttpAuth(bearer_token="tok-123")) as logs:
        assert await logs.query(query()) == []
    assert fake.requests[0].headers["Authorization"] == "Bearer tok-123"


async def test_streams_merge_in_time_order_with_labels_and_nanoseconds() -> None:
    lines = [web(3, "web-2"), web(1), web(2, "web-2"), (T0_NS + 4_000_001_999, {"app": "web"}, "x")]
    async with loki(FakeLoki(lines)) as logs:
        records = await logs.query(query())
    assert [r.line for r in records] == ["l1", "l2", "l3", "x"]
    assert records[1].labels == {"app": "web", "pod": "web-2"}
    assert records[3].ts == T0 + timedelta(seconds=4, microseconds=1)  # ns truncated to µs


@pytest.mark.parametrize("direction", ["backward", "forward"])
async def test_pagination_reads_everything_once_across_same_timestamp_lines(
    direction: str,
) -> None:
    lines = [web(i) for i in range(20)]
    # Four lines share one nanosecond, across two streams, straddling the first page's end
    # (6 whole seconds, then one of the four) in either direction.
    for at in (5_500_000_000, 13_500_000_000):
        labels = [{"app": "web", "pod": f"web-{i % 2}"} for i in range(4)]
        lines += [(T0_NS + at, labels[i], f"same{at}-{i}") for i in range(4)]
    fake = FakeLoki(lines)
    async with loki(fake, page_size=7) as logs:
        records = await logs.query_range(query(), direction=direction)  # type: ignore[arg-type]
    assert len(fake.requests) > 3
    assert sorted(r.line for r in records) == sorted(x[2] for x in lines)
    assert [r.ts for r in records] == sorted(r.ts for r in records)


async def test_limit_keeps_newest_backward_and_oldest_forward() -> None:
    lines = [web(i) for i in range(30)]
    async with loki(FakeLoki(lines), page_size=4) as logs:
        newest = await logs.query(query(limit=10))
        oldest = await logs.query_range(query(limit=10), direction="forward")
    assert [r.line for r in newest] == [f"l{i}" for i in range(20, 30)]
    assert [r.line for r in oldest] == [f"l{i}" for i in range(10)]


async def test_more_same_timestamp_lines_than_a_page_are_all_read() -> None:
    lines = [(T0_NS + 5, {"app": "web", "pod": str(i)}, f"burst{i}") for i in range(8)]
    lines += [web(1), web(2)]
    fake = FakeLoki(lines)
    async with loki(fake, page_size=3) as logs:
        records = await logs.query(query())
    assert sorted(r.line for r in records) == sorted(x[2] for x in lines)
    assert max(int(r.url.params["limit"]) for r in fake.requests) > 3  # asked past the repeats


async def test_more_same_timestamp_lines_than_max_entries_terminates_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = [(T0_NS + 5, {"app": "web", "pod": str(i)}, f"burst{i}") for i in range(6)]
    lines += [web(1), web(2)]
    fake = FakeLoki(lines)
    with caplog.at_level(logging.WARNING, logger="tools.logs.loki"):
        async with loki(fake, page_size=3, max_entries=4) as logs:
            records = await logs.query(query())
    assert len(fake.requests) < 10
    assert all(int(r.url.params["limit"]) <= 4 for r in fake.requests)
    assert {"l1", "l2"} <= {r.line for r in records}
    assert len({(r.ts, r.line) for r in records}) == len(records)
    assert "lines at" in caplog.text


async def test_clock_clamps_the_window_and_no_line_after_it() -> None:
    observed = T0 + timedelta(seconds=5)
    fake = FakeLoki([web(i) for i in range(10)])
    async with loki(fake, observed_at=observed) as logs:
        records = await logs.query(query())
        assert await logs.query(query().model_copy(update={"start": observed + timedelta(1)})) == []
    assert [r.line for r in records] == [f"l{i}" for i in range(6)]
    assert fake.requests[0].url.params["end"] == str(T0_NS + 5_000_000_000 + 1)
    assert len(fake.requests) == 1  # a window after the clock is not even asked for


async def test_parse_error_is_query_error_with_lokis_text() -> None:
    fake = FakeLoki([])
    text = "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, expecting STRING"
    fake.failures = [httpx.Response(400, text=text, headers={"Content-Type": "text/plain"})]
    async with loki(fake) as logs:
        with pytest.raises(QueryError, match="unexpected IDENTIFIER"):
            await logs.query(query())
    assert len(fake.requests) == 1  # a bad query is not retried


async def test_429_and_5xx_are_retried_then_succeed() -> None:
    fake = FakeLoki([web(1)])
    fake.failures = [
        httpx.Response(429, text="too many outstanding requests"),
        httpx.Response(502, text="bad gateway"),
    ]
    async with loki(fake) as logs:
        assert [r.line for r in await logs.query(query())] == ["l1"]
    assert len(fake.requests) == 3


async def test_persistent_5xx_is_source_unavailable_after_bounded_retries() -> None:
    fake = FakeLoki([])
    fake.failures = [httpx.Response(503, text="no org id / ingester unhealthy")] * 5
    async with loki(fake) as logs:
        with pytest.raises(SourceUnavailable, match=r"after 2 retries.*HTTP 503.*unhealthy"):
            await logs.query(query())
    assert len(fake.requests) == 3


async def test_connection_error_is_source_unavailable() -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    logs = LokiLogs("http://loki.test", transport=httpx.MockTransport(refuse), retry=FAST)
    async with logs:
        with pytest.raises(SourceUnavailable, match="Connection refused"):
            await logs.query(query())
    assert len(calls) == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_names_no_secret(status: int) -> None:
    fake = FakeLoki([])
    fake.failures = [httpx.Response(status, text="invalid credentials")]
    auth = HttpAuth(username="u", password="hunter2-secret")
    async with LokiLogs(
        "http://u:hunter2-secret@loki.test",
        auth=auth,
        transport=httpx.MockTransport(fake.handler),
        retry=FAST,
    ) as logs:
        with pytest.raises(AuthenticationFailed) as info:
            await logs.query(query())
    assert f"HTTP {status}" in str(info.value)
    assert "hunter2" not in str(info.value) and "hunter2" not in logs.url
    assert isinstance(info.value, SourceUnavailable)


async def test_count_over_time_reads_a_matrix() -> None:
    fake = FakeLoki([web(i) for i in range(0, 120, 2)])
    async with loki(fake) as logs:
        (series,) = await logs.count_over_time(query(minutes=2), step_s=60)
    assert fake.requests[0].url.params["query"].startswith('count_over_time({app="web"} [60000ms])')
    assert series.labels == {"app": "web"}
    assert series.values == [1.0, 30.0, 29.0]  # lines in (t-60s, t]


@pytest.mark.parametrize(
    ("respond", "error", "match"),
    [
        (
            lambda: httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}),
            QueryError,
            "'matrix' result to the log query",
        ),
        (lambda: httpx.Response(200, text="<html>proxy login</html>"), SourceUnavailable, "did not send"),
        (
            lambda: httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": [{"values": []}]}}),
            SourceUnavailable,
            "malformed streams",
        ),
        (lambda: httpx.Response(404, text="404 page not found"), SourceUnavailable, "no Loki API"),
    ],
)  # fmt: skip
async def test_unexpected_answers_are_clear_errors(
    respond: Callable[[], httpx.Response], error: type[Exception], match: str
) -> None:
    fake = FakeLoki([])
    fake.failures = [respond()]
    async with loki(fake) as logs:
        with pytest.raises(error, match=match):
            await logs.query(query())
