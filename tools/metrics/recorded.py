"""Metrics replayed from a scenario's ``metrics.om`` through a real, private Prometheus.

On entry it writes a copy of the OpenMetrics file holding only samples at or before the
diagnosis clock (``observed_at``), backfills it with ``promtool`` into a temporary TSDB and
starts ``prometheus`` on it (loopback, a free port, no scrape jobs). Later samples are never
loaded, so no PromQL (``@`` modifiers, offsets, ranges) can reach them; query times are
also clamped to ``observed_at``. On exit the process is stopped and the directory removed.

One instance serves a whole replay; queries may run concurrently. It must not be used for
live data: it only ever sees the recording.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from tools.errors import BackendStartError, QueryError, SourceUnavailable
from tools.metrics.base import Sample, Series
from tools.metrics.result import to_samples, to_series
from tools.timeutil import iso, parse_ts

_INSTALL_HINT = "install the Debian package 'prometheus' (it ships prometheus and promtool)"
_CONFIG = "# Strata replay: no scrape jobs; the data is backfilled.\nscrape_configs: []\n"
_HTTP_ERROR = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)


def find_binary(name: str, env_var: str) -> str:
    """The path of ``name`` (or of ``$env_var`` when set).

    Raises:
        tools.errors.SourceUnavailable: it is not installed.
    """
    wanted = os.environ.get(env_var) or name
    found = shutil.which(wanted)
    if found is None:
        raise SourceUnavailable(
            f"{wanted!r} not found, so recorded metrics cannot be replayed: {_INSTALL_HINT}, "
            f"or point {env_var} at the binary"
        )
    return found


def sample_timestamp(line: str) -> float | None:
    """The timestamp (seconds) of an OpenMetrics sample line, None if it has none.

    Label values may hold spaces, braces, ``#`` and escaped quotes; an exemplar after
    `` # `` is ignored.

    Raises:
        ValueError: the line is not a sample line.
    """
    i, n = 0, len(line)
    while i < n and line[i] not in "{ \t":
        i += 1
    if i < n and line[i] == "{":
        i, quoted = i + 1, False
        while i < n and (quoted or line[i] != "}"):
            if quoted and line[i] == "\\":
                i += 1
            elif line[i] == '"':
                quoted = not quoted
            i += 1
        if i >= n:
            raise ValueError("unterminated label set")
        i += 1
    fields = line[i:].split(" # ", 1)[0].split()
    if not 1 <= len(fields) <= 2:
        raise ValueError("expected a value and an optional timestamp")
    return float(fields[1]) if len(fields) == 2 else None


def filter_openmetrics(source: Path, dest: Path, observed_at: datetime) -> int:
    """Copy ``source`` to ``dest`` without samples after ``observed_at``; count those kept.

    Comment lines (``# TYPE``, ``# HELP``, ...) are kept, ``# EOF`` ends the copy, and a
    sample without a timestamp is kept for promtool to refuse.

    Raises:
        tools.errors.BackendStartError: a line that is not a sample (names file and line).
    """
    cutoff, kept = observed_at.timestamp(), 0
    with source.open(encoding="utf-8") as src, dest.open("w", encoding="utf-8") as out:
        for lineno, raw in enumerate(src, 1):
            line = raw.rstrip("\n")
            if line.startswith("#") or not line.strip():
                out.write(line + "\n")
                if line.strip() == "# EOF":
                    break
                continue
            try:
                ts = sample_timestamp(line)
            except ValueError as exc:
                raise BackendStartError(
                    f"{source}:{lineno}: not an OpenMetrics sample: {exc}"
                ) from exc
            if ts is None or ts <= cutoff:
                out.write(line + "\n")
                kept += 1
    return kept


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc.strerror})"


class RecordedPrometheus:
    """A :class:`tools.metrics.base.MetricsSource` over a recorded ``metrics.om``.

    Use as ``async with RecordedPrometheus(path, observed_at) as prom: ...``.
    """

    def __init__(
        self,
        metrics_path: str | Path,
        observed_at: datetime,
        *,
        startup_timeout_s: float = 15.0,
        query_timeout_s: float = 30.0,
    ) -> None:
        self.metrics_path = Path(metrics_path)
        self.observed_at = parse_ts(observed_at)
        self._startup_timeout_s = startup_timeout_s
        self._query_timeout_s = query_timeout_s
        self._tmp: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log: TextIO | None = None
        self._url: str | None = None
        self._local = threading.local()  # one HTTP client per worker thread
        self._clients: list[PrometheusConnect] = []  # all of them, to close on exit

    @property
    def url(self) -> str:
        """Base URL of the running Prometheus.

        Raises:
            tools.errors.SourceUnavailable: it is not running.
        """
        if self._url is None:
            raise SourceUnavailable("the replay Prometheus is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        """Process id of the running Prometheus, None when stopped."""
        return self._proc.pid if self._proc is not None else None

    async def __aenter__(self) -> RecordedPrometheus:
        promtool = find_binary("promtool", "PROMTOOL_BIN")
        prometheus = find_binary("prometheus", "PROMETHEUS_BIN")
        if not self.metrics_path.is_file():
            raise SourceUnavailable(f"{self.metrics_path}: no such file")
        self._tmp = Path(tempfile.mkdtemp(prefix="strata-prom-"))
        try:
            await self._backfill(promtool)
            await self._start(prometheus)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def instant(self, promql: str, at: datetime) -> list[Sample]:
        """Evaluate ``promql`` at ``min(at, observed_at)``.

        Raises:
            tools.errors.QueryError: Prometheus rejected the query, or it yields a range vector.
            tools.errors.SourceUnavailable: Prometheus cannot be reached.
        """
        when = min(parse_ts(at), self.observed_at)
        return to_samples(promql, await self._call(promql, {"time": when.timestamp()}))

    async def range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        """Evaluate ``promql`` over ``[start, min(end, observed_at)]`` every ``step_s`` s.

        A ``start`` after ``observed_at`` gives ``[]``.

        Raises:
            tools.errors.QueryError: Prometheus rejected the query.
            tools.errors.SourceUnavailable: Prometheus cannot be reached.
        """
        start, end = parse_ts(start), min(parse_ts(end), self.observed_at)
        if start > self.observed_at:
            return []
        params = {"start": start.timestamp(), "end": end.timestamp(), "step": step_s}
        return to_series(await self._call(promql, params, (start, end)))

    async def _call(
        self,
        promql: str,
        params: dict[str, float],
        span: tuple[datetime, datetime] | None = None,
    ) -> list[Any]:
        url = self.url

        def send() -> list[Any]:  # runs in a worker thread, with that thread's own client
            client = self._client(url)
            if span is None:
                result: list[Any] = client.custom_query(promql, params=params)
                return result
            # params repeat start/end/step: they override the client's whole-second rounding,
            # which could move ``end`` past observed_at.
            step = str(params["step"])
            result = client.custom_query_range(promql, span[0], span[1], step, params)
            return result

        try:
            return await asyncio.to_thread(send)
        except PrometheusApiClientException as exc:
            raise QueryError(_prometheus_message(str(exc))) from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(
                f"the replay Prometheus at {url} did not answer: {exc}"
            ) from exc

    def _client(self, url: str) -> PrometheusConnect:
        """This thread's client (requests sessions are not meant to be shared by threads)."""
        client: PrometheusConnect | None = getattr(self._local, "client", None)
        if client is None or client.url != url:
            # No retries: a local server either answers or is gone.
            client = PrometheusConnect(
                url, disable_ssl=True, retry=Retry(total=0), timeout=self._query_timeout_s
            )
            self._local.client = client
            self._clients.append(client)  # list.append is atomic
        return client

    async def _backfill(self, promtool: str) -> None:
        assert self._tmp is not None
        filtered, data = self._tmp / "metrics.om", self._tmp / "data"
        kept = await asyncio.to_thread(
            filter_openmetrics, self.metrics_path, filtered, self.observed_at
        )
        if kept == 0:  # nothing at or before observed_at: an empty TSDB, not an error
            return
        proc = await asyncio.create_subprocess_exec(
            promtool, "tsdb", "create-blocks-from", "openmetrics", str(filtered), str(data),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            text = out.decode(errors="replace").strip()[-2000:]
            raise BackendStartError(
                f"promtool could not backfill {self.metrics_path} "
                f"(samples up to {iso(self.observed_at)}): {text}"
            )

    async def _start(self, prometheus: str) -> None:
        assert self._tmp is not None
        config, log_path = self._tmp / "prometheus.yml", self._tmp / "prometheus.log"
        config.write_text(_CONFIG, encoding="utf-8")
        for _attempt in range(3):  # another process may take the free port before we bind it
            port = _free_port()
            self._log = log_path.open("w", encoding="utf-8")
            self._proc = await asyncio.create_subprocess_exec(
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={self._tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=100y",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log,
                stderr=asyncio.subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            if await self._wait_ready(url):
                self._url = url
                return
            await self._stop_process()
            if "address already in use" not in _tail(log_path):
                break
        raise BackendStartError(
            f"prometheus did not become ready within {self._startup_timeout_s:g} s "
            f"(replaying {self.metrics_path}); its log ends:\n{_tail(log_path)}"
        )

    async def _wait_ready(self, url: str) -> bool:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_timeout_s
        async with httpx.AsyncClient(timeout=1.0) as http:
            while loop.time() < deadline and self._proc.returncode is None:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/-/ready")).status_code == 200:
                        return True
                await asyncio.sleep(0.02)
        return False

    async def _stop_process(self) -> None:
        proc, self._proc, self._url = self._proc, None, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _stop(self) -> None:
        await self._stop_process()
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._tmp is not None:
            await asyncio.to_thread(shutil.rmtree, self._tmp, True)
            self._tmp = None


def _prometheus_message(text: str) -> str:
    """Prometheus' own ``error`` text out of prometheus-api-client's exception message."""
    match = _HTTP_ERROR.match(text)
    if match is None:
        return text
    status, body = match.groups()
    with contextlib.suppress(ValueError, SyntaxError, TypeError):
        raw = ast.literal_eval(body)  # the client shows the body as a bytes repr
        data = json.loads(raw)
        if isinstance(data, dict) and "error" in data:
            return f"{data['error']} (HTTP {status}, {data.get('errorType', 'error')})"
    return f"HTTP {status}: {body}"
