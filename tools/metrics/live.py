"""Metrics from a live Prometheus-compatible server (Prometheus, Thanos, Mimir, VictoriaMetrics).

Speaks only the standard ``/api/v1/query`` and ``/api/v1/query_range`` endpoints through
prometheus-api-client, which is synchronous: each call runs in a worker thread with that
thread's own client (a ``requests.Session`` is not meant to be shared between threads).

Behaviour:

- Timeouts: ``timeout_s`` bounds each HTTP attempt and is passed to the server as the
  query's ``timeout`` so it stops evaluating too.
- Retries: connection errors, read errors, HTTP 429 and 5xx are retried as the
  :class:`tools.http_auth.RetryPolicy` says (urllib3's ``Retry``, mounted by prometheus-api-client);
  ``Retry-After`` is ignored so the worst case stays bounded. Then SourceUnavailable.
- Errors: a query the server rejects (400, 422) is a QueryError carrying the server's own
  message; 401/403 is :class:`tools.http_auth.AuthenticationFailed`; anything else that
  leaves no answer is SourceUnavailable.
- Partial data: the ``warnings`` a server adds to a successful response (and
  VictoriaMetrics' ``isPartial``) are logged and kept, per query, in :attr:`warnings`.
- Clock: queries are evaluated no later than ``observed_at`` (the incident clock the caller
  passes) and never later than now. The clock bounds evaluation times only; an ``@``
  modifier or negative ``offset`` written into the PromQL is the caller's responsibility.

It must not print, and it never puts credentials in a message or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import BaseModel, ConfigDict, Field
from urllib3.util.retry import Retry

from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import RETRY_STATUSES, HttpAuth, RetryPolicy, auth_failure, redact_url
from tools.metrics.base import Sample, Series
from tools.metrics.result import to_samples, to_series
from tools.timeutil import parse_ts

log = logging.getLogger(__name__)


class QueryWarning(BaseModel):
    """A warning the server attached to an otherwise successful answer (e.g. partial data)."""

    model_config = ConfigDict(frozen=True)

    promql: str = Field(description="The query that drew the warning.")
    message: str = Field(description="The server's warning text.")


class LivePrometheus:
    """A :class:`tools.metrics.base.MetricsSource` over a live Prometheus-compatible API.

    Use as ``async with LivePrometheus(url, auth=..., observed_at=...) as prom: ...`` (or
    call :meth:`close`). Queries may run concurrently.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: HttpAuth | None = None,
        observed_at: datetime | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        """
        Args:
            url: base URL, e.g. ``https://prom.lab:9090`` or a Thanos/Mimir prefix
                (``https://mimir/prometheus``); ``/api/v1/...`` is appended.
            auth: credentials and TLS settings; none by default.
            observed_at: the incident clock: nothing after it is returned. None: now.
            timeout_s: per HTTP attempt, and the server-side query timeout.
            retry: retries after a connection error, read error, 429 or 5xx (default
                :class:`RetryPolicy`'s), carried out by urllib3.
        """
        self._url = url.rstrip("/")
        self.url = redact_url(self._url)
        self._auth = auth or HttpAuth()
        self.observed_at = parse_ts(observed_at) if observed_at is not None else None
        self._timeout_s = timeout_s
        policy = retry or RetryPolicy()
        self._retries = policy.retries
        self._retry = Retry(
            total=policy.retries,
            connect=policy.retries,
            read=policy.retries,
            status=policy.retries,
            other=0,
            backoff_factor=policy.backoff_s / 2,  # urllib3 waits factor * 2**(n-1): same delays
            backoff_max=policy.backoff_max_s,
            status_forcelist=sorted(RETRY_STATUSES),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,  # hand back the last answer, so its message can be shown
            respect_retry_after_header=False,
        )
        self._local = threading.local()  # one client (and last response) per worker thread
        self._clients: list[PrometheusConnect] = []
        self._warnings: list[QueryWarning] = []

    @property
    def warnings(self) -> tuple[QueryWarning, ...]:
        """Every warning received so far, in arrival order, each naming its query."""
        return tuple(self._warnings)

    def clock(self) -> datetime:
        """The latest time a query may see: ``observed_at``, never later than now."""
        now = datetime.now(UTC)
        return now if self.observed_at is None else min(self.observed_at, now)

    async def __aenter__(self) -> LivePrometheus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every thread's HTTP session."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    async def instant(self, promql: str, at: datetime) -> list[Sample]:
        """Evaluate ``promql`` at ``min(at, clock())``.

        Raises:
            tools.errors.QueryError: the server rejected the query, or it yields a range vector.
            tools.errors.SourceUnavailable: the server cannot be reached, or still fails
                after the retries (AuthenticationFailed when it refuses the credentials).
        """
        when = min(parse_ts(at), self.clock())
        return to_samples(promql, await self._call(promql, {"time": _ms(when)}))

    async def range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        """Evaluate ``promql`` over ``[start, min(end, clock())]`` every ``step_s`` seconds.

        A ``start`` after the clock gives ``[]``.

        Raises:
            tools.errors.QueryError: the server rejected the query (e.g. too many points).
            tools.errors.SourceUnavailable: as for :meth:`instant`.
        """
        clock = self.clock()
        start, end = parse_ts(start), min(parse_ts(end), clock)
        if start > clock:
            return []
        params = {"start": _ms(start), "end": _ms(end), "step": step_s}
        return to_series(await self._call(promql, params, (start, end)))

    async def _call(
        self,
        promql: str,
        params: dict[str, float],
        span: tuple[datetime, datetime] | None = None,
    ) -> list[Any]:
        query_params: dict[str, Any] = {**params, "timeout": f"{self._timeout_s:g}s"}

        def send() -> tuple[list[Any] | None, requests.Response | None]:
            client = self._client()
            self._local.response = None
            try:
                if span is None:
                    result = client.custom_query(promql, params=query_params)
                else:
                    # params repeat start/end/step: they override the client's whole-second
                    # rounding, which could move ``end`` past the clock.
                    step = str(params["step"])
                    result = client.custom_query_range(promql, *span, step, query_params)
            except PrometheusApiClientException:
                result = None  # judged from the response below
            return result, self._local.response

        try:
            result, response = await asyncio.to_thread(send)
        except requests.JSONDecodeError as exc:
            raise SourceUnavailable(
                f"Prometheus at {self.url} answered, but not with JSON (a proxy page?): {exc}"
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(
                f"Prometheus at {self.url} did not answer "
                f"(after {self._retries} retries): {_reason(exc)}"
            ) from exc
        if response is None or result is None:
            raise self._error(promql, response)
        self._note_warnings(promql, response)
        return result

    def _client(self) -> PrometheusConnect:
        """This thread's client; its response hook keeps the last response for this thread."""
        client: PrometheusConnect | None = getattr(self._local, "client", None)
        if client is None:
            session = self._auth.requests_session()
            session.hooks["response"].append(self._keep_response)
            client = PrometheusConnect(
                self._url,
                session=session,  # carries auth, headers and TLS verification
                retry=self._retry,
                timeout=(min(self._timeout_s, 10.0), self._timeout_s + 1.0),
            )
            self._local.client = client
            self._clients.append(client)  # list.append is atomic
        return client

    def _keep_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.response = response

    def _error(self, promql: str, response: requests.Response | None) -> Exception:
        if response is None:
            return SourceUnavailable(f"Prometheus at {self.url} gave no response to {promql!r}")
        status, message = response.status_code, _message(response)
        if status in (401, 403):
            return auth_failure(status, self.url, "Prometheus")
        if status in RETRY_STATUSES:
            return SourceUnavailable(
                f"Prometheus at {self.url} answered HTTP {status} "
                f"(after {self._retries} retries): {message}"
            )
        if status == 404:
            return SourceUnavailable(f"no Prometheus query API at {self.url} (HTTP 404)")
        return QueryError(f"{message} (query {promql!r})")

    def _note_warnings(self, promql: str, response: requests.Response) -> None:
        with contextlib.suppress(ValueError):
            body = response.json()
            if not isinstance(body, dict):
                return
            texts = [str(w) for w in body.get("warnings") or []]
            if body.get("isPartial"):  # VictoriaMetrics
                texts.append("the server marked the response as partial (isPartial)")
            for text in texts:
                log.warning("Prometheus at %s: %s (query %r)", self.url, text, promql)
                self._warnings.append(QueryWarning(promql=promql, message=text))


def _ms(ts: datetime) -> float:
    """Unix seconds floored to the millisecond: Prometheus rounds to the nearest one, which
    could move a time past the clock."""
    return math.floor(ts.timestamp() * 1000) / 1000


def _message(response: requests.Response) -> str:
    """The server's ``error`` (with ``errorType`` and status), else the start of the body."""
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            kind = body.get("errorType", "error")
            return f"{body['error']} (HTTP {response.status_code}, {kind})"
    text = response.text.strip()[:500] or "(empty body)"
    return f"HTTP {response.status_code}: {text}"


def _reason(exc: requests.RequestException) -> str:
    """The cause of a requests error, without urllib3's "Max retries exceeded" wrapper."""
    inner = exc.args[0] if exc.args else exc
    return str(getattr(inner, "reason", None) or inner) or type(exc).__name__
