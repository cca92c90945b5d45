"""Open the live data sources a configuration names, as one :class:`Sources` bundle; check them.

Every source is optional. A source that is configured but cannot be opened, or (for
Prometheus and Loki) does not answer a trivial request first, is left out with a note
saying why, so the diagnosis goes on and says what it could not see instead of timing
out query by query. SNMP devices are polled ``snmp.polls`` times, ``snmp.interval_s``
apart, before the specialists read them (rates need two polls), unless the caller hands
in a :class:`~tools.snmp.live.LiveSnmp` that has been polling all along
(:func:`open_polled_snmp`, as ``strata serve`` does): then its history, from before the
alert, is what they read. SNMP and SSH can only show the present: for an ``observed_at``
in the past they are left out, with a note. Logs come from Loki when ``[loki]`` is
configured, otherwise from the ``[[log_files]]`` on this machine.

:func:`check_sources` is ``strata config check``: one small request per configured
source, concurrently, each under a timeout, as rows of :class:`SourceCheck`.

Nothing here prints, and no message carries a secret.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from tools.alertmanager.api import AlertmanagerAPI
from tools.config import HttpSource, StrataConfig
from tools.errors import QueryError, SourceUnavailable, ToolError
from tools.http_auth import RetryPolicy, error_text, get_with_retries, redact_url
from tools.logs.base import LogSource
from tools.logs.files import FileLogs, LogFile
from tools.logs.loki import LokiLogs
from tools.metrics.live import LivePrometheus
from tools.snmp import oids
from tools.snmp.errors import SnmpError
from tools.snmp.live import LiveSnmp, SnmpClient, SnmpDevice
from tools.sources import Sources
from tools.ssh.live import LiveSsh, SshHostConfig
from tools.timeutil import iso

log = logging.getLogger(__name__)

PRESENT_SLACK_S = 120.0
"""An ``observed_at`` more than this before now is "the past": no SNMP, no SSH."""

CHECK_RETRY = RetryPolicy(retries=1, backoff_s=0.2)
"""Retries of a check (and of the reachability test before a diagnosis)."""

PREFLIGHT_TIMEOUT_S = 10.0
"""Longest wait for the reachability test of Prometheus and Loki before a diagnosis."""

RECENT_POLL_S = 5.0
"""A background poll younger than this (and than ``snmp.interval_s``) shows the present."""

HISTORY_MARGIN = 1.2
"""A polled device keeps its polls over the window times this (and four more)."""

Check = Callable[[HttpSource, float], Awaitable[str]]
"""One source's check within a timeout: what it answered, or a ToolError saying why not."""


@asynccontextmanager
async def open_live_sources(
    config: StrataConfig,
    observed_at: datetime | None = None,
    *,
    preflight: bool = True,
    snmp: LiveSnmp | None = None,
) -> AsyncIterator[Sources]:
    """Live sources for one incident. ``observed_at`` caps every query (default: now).

    The reachability checks and the SNMP polls run concurrently.

    Args:
        config: the configuration.
        observed_at: the incident clock; None for a live incident (now).
        preflight: first check that Prometheus and Loki answer; leave them out if not.
        snmp: an open LiveSnmp over the configured devices that keeps polling them (see
            :func:`open_polled_snmp`). Its history is used and it is left open; a device
            is polled once more only when its last poll is not recent or failed. None:
            open one for this incident and poll ``snmp.polls`` times.
    """
    notes: dict[str, list[str]] = {name: [] for name in ("metrics", "logs", "snmp", "ssh")}
    now = datetime.now(UTC)
    past = observed_at is not None and observed_at < now - timedelta(seconds=PRESENT_SLACK_S)
    prom, loki = config.prometheus, config.loki
    async with AsyncExitStack() as stack:
        live_snmp: LiveSnmp | None = None
        ssh: LiveSsh | None = None
        for name, configured, section in (
            ("metrics", prom, "[prometheus]"),
            ("logs", loki or config.log_files, "[loki]"),
            ("snmp", config.snmp.devices, "[[snmp.devices]]"),
            ("ssh", config.ssh.hosts, "[[ssh.hosts]]"),
        ):
            if not configured:
                notes[name].append(f"{name}: no {section} in the configuration")
            elif past and name in ("snmp", "ssh"):
                when = iso(observed_at) if observed_at else ""
                notes[name].append(f"{name}: left out: it shows the present, not {when}")
        try:
            if snmp is not None and not past:
                live_snmp = snmp  # the caller's: it stays open
            elif config.snmp.devices and not past:
                live_snmp = await stack.enter_async_context(
                    LiveSnmp(config.snmp.devices, interval_s=config.snmp.interval_s)
                )
        except ValueError as exc:
            notes["snmp"].append(f"snmp: {exc}")
        try:
            if config.ssh.hosts and not past:
                ssh = await stack.enter_async_context(
                    LiveSsh(config.ssh.hosts, command_timeout=config.ssh.command_timeout_s)
                )
        except ValueError as exc:
            notes["ssh"].append(f"ssh: {exc}")

        async def reachable(source: HttpSource | None, check: Check) -> str | None:
            if source is None or not preflight:
                return None
            try:
                await check(source, PREFLIGHT_TIMEOUT_S)
            except ToolError as exc:
                return exc.message
            return None

        async def poll() -> dict[str, SnmpError]:
            if live_snmp is None:
                return {}
            if live_snmp is snmp:
                return await _poll_stale(live_snmp, config.snmp.interval_s)
            return await live_snmp.collect(polls=config.snmp.polls)

        prom_down, loki_down, failed = await asyncio.gather(
            reachable(prom, check_prometheus), reachable(loki, check_loki), poll()
        )
        metrics = None
        logs: LogSource | None = None
        if prom is not None and prom_down is None:
            metrics = await stack.enter_async_context(
                LivePrometheus(
                    prom.url, auth=prom.auth, observed_at=observed_at, timeout_s=prom.timeout_s
                )
            )
        if loki is not None and loki_down is None:
            try:
                logs = await stack.enter_async_context(
                    LokiLogs(
                        loki.url,
                        auth=loki.auth,
                        org_id=loki.org_id,
                        observed_at=observed_at,
                        timeout_s=loki.timeout_s,
                    )
                )
            except ToolError as exc:
                loki_down = exc.message
        elif loki is None and config.log_files:
            files = FileLogs(config.log_files, observed_at)
            logs = files
            count = len(config.log_files)
            notes["logs"].append(
                f"logs: no [loki]; read from {count} local log file{'s' if count != 1 else ''}"
                " ([[log_files]])"
            )
            unreadable = await asyncio.to_thread(files.unreadable)
            notes["logs"] += [f"logs: {why}" for why in unreadable]
            if len(unreadable) == count:
                logs = None
        for name, down in (("metrics", prom_down), ("logs", loki_down)):
            if down is not None:
                log.warning("%s left out: %s", name, down)
                notes[name].append(f"{name}: {down}")
        notes["snmp"] += [f"snmp: {name}: {err.message}" for name, err in failed.items()]
        yield Sources(
            metrics=metrics,
            logs=logs,
            snmp=live_snmp,
            ssh=ssh,
            notes=tuple(n for name in notes for n in notes[name]),
        )


async def _poll_stale(snmp: LiveSnmp, interval_s: float) -> dict[str, SnmpError]:
    """Poll once more each device whose last poll is not recent or failed (concurrently)."""
    recent = timedelta(seconds=min(interval_s, RECENT_POLL_S))
    now = datetime.now(UTC)
    stale = [
        name
        for name in snmp.devices()
        if snmp.failure(name) is not None
        or not (times := snmp.poll_times(name))
        or now - times[-1] > recent
    ]
    return await snmp.collect(stale, polls=1) if stale else {}


def history_polls(config: StrataConfig) -> int:
    """How many polls per device cover ``window_minutes`` at ``snmp.interval_s``, with a margin."""
    window_s = config.window_minutes * 60 * HISTORY_MARGIN
    return math.ceil(window_s / config.snmp.interval_s) + 4


async def _poll_forever(snmp: LiveSnmp, interval_s: float) -> None:
    loop = asyncio.get_running_loop()
    names = snmp.devices()

    async def one(name: str) -> None:
        try:
            await snmp.poll(name)
        except SnmpError:
            pass  # poll() logged it and failure() keeps it; the next round tries again
        except Exception:
            # Polling must outlive any one bad answer: log it, go on.
            log.exception("SNMP poll of %s raised", name)

    next_at = loop.time()
    while True:
        await asyncio.gather(*(one(name) for name in names))
        next_at += interval_s
        now = loop.time()
        if next_at < now:  # the round overran: start the next at once, on a new beat
            next_at = now
        await asyncio.sleep(next_at - now)


@asynccontextmanager
async def open_polled_snmp(config: StrataConfig) -> AsyncIterator[LiveSnmp | None]:
    """One LiveSnmp over the configured devices, polled every ``snmp.interval_s`` until exit.

    A background task polls every device each round (a failure is logged and polling goes
    on); each device keeps :func:`history_polls` polls, so a diagnosis started later sees
    the counters from before its alert. Hand it to :func:`open_live_sources` as ``snmp``.
    On exit the task is cancelled and awaited, then the transports are closed.

    Yields:
        The LiveSnmp; None when no device is configured or the devices are invalid (then
        logged, and :func:`open_live_sources` reports it as it always does).
    """
    if not config.snmp.devices:
        yield None
        return
    try:
        snmp = LiveSnmp(
            config.snmp.devices,
            interval_s=config.snmp.interval_s,
            max_polls=history_polls(config),
        )
    except ValueError as exc:
        log.error("SNMP devices not polled: %s", exc)
        yield None
        return
    async with snmp:
        task = asyncio.create_task(
            _poll_forever(snmp, config.snmp.interval_s), name="strata-snmp-poller"
        )
        log.info(
            "SNMP polling started",
            extra={"devices": snmp.devices(), "interval_s": config.snmp.interval_s},
        )
        try:
            yield snmp
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class SourceCheck:
    """One row of ``strata config check``."""

    source: str
    """What kind of source: ``prometheus``, ``loki``, ``alertmanager``, ``log file``,
    ``snmp``, ``ssh``."""
    target: str
    """Where it is (URL without credentials, device or host), never a secret."""
    ok: bool
    """Whether it answered as expected."""
    latency_ms: float
    """How long the check took."""
    detail: str
    """What it answered, or why it failed."""


def _limit(source: HttpSource, timeout_s: float) -> float:
    return min(source.timeout_s, timeout_s)


async def check_prometheus(source: HttpSource, timeout_s: float) -> str:
    """Evaluate ``vector(1)``: the query API answers with these credentials.

    Raises:
        tools.errors.ToolError: it did not (the message says why).
    """
    async with LivePrometheus(
        source.url, auth=source.auth, timeout_s=_limit(source, timeout_s), retry=CHECK_RETRY
    ) as prom:
        samples = await prom.instant("vector(1)", datetime.now(UTC))
    if [s.value for s in samples] != [1.0]:
        raise QueryError(f"Prometheus answered vector(1) with {samples!r}")
    return "answered a query"


async def check_loki(source: HttpSource, timeout_s: float) -> str:
    """List the label names of the last 5 minutes (``/loki/api/v1/labels``).

    Raises:
        tools.errors.ToolError: no answer, refused credentials, or not a Loki answer.
    """
    url = redact_url(source.url.rstrip("/"))
    now = time.time_ns()
    headers = {"X-Scope-OrgID": source.org_id} if source.org_id else None
    async with source.auth.httpx_client(
        source.url.rstrip("/"), timeout_s=_limit(source, timeout_s), headers=headers
    ) as http:
        resp = await get_with_retries(
            http,
            "/loki/api/v1/labels",
            {"start": str(now - 300 * 10**9), "end": str(now)},
            what="Loki",
            url=url,
            retry=CHECK_RETRY,
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
        raise QueryError(f"Loki at {url} did not list labels: {error_text(resp)}")
    return f"{len(body.get('data') or [])} label names in the last 5 min"


async def check_alertmanager(source: HttpSource, timeout_s: float) -> str:
    """List the active alerts.

    Raises:
        tools.errors.ToolError: as :meth:`tools.alertmanager.api.AlertmanagerAPI.alerts`.
    """
    async with AlertmanagerAPI(
        source.url, auth=source.auth, timeout_s=_limit(source, timeout_s), retry=CHECK_RETRY
    ) as am:
        alerts = await am.alerts()
    return f"{len(alerts)} active alert{'s' if len(alerts) != 1 else ''}"


async def check_log_file(file: LogFile) -> str:
    """Read the file's tail: how many lines carry a timestamp, and the newest.

    Raises:
        tools.errors.SourceUnavailable: it cannot be read (the message says why).
    """
    source = FileLogs([file])
    records = await asyncio.to_thread(source.records)
    if problems := source.unreadable():
        raise SourceUnavailable(problems[0])
    if not records:
        return f"no line begins with a {file.timestamp} timestamp"
    newest = max(r.ts for r in records)
    return (
        f"{len(records)} dated line{'s' if len(records) != 1 else ''}, the newest at {iso(newest)}"
    )


async def check_snmp(device: SnmpDevice) -> str:
    """GET sysUpTime.

    Raises:
        tools.snmp.errors.SnmpError: no answer, or the credentials were refused.
    """
    client = SnmpClient(device)
    try:
        reply = await client.get([oids.SYS_UPTIME])
    finally:
        await client.aclose()
    if reply.error:
        raise QueryError(f"{device.label}: {reply.error}")
    if not reply.varbinds or not isinstance(reply.varbinds[0].value, int):
        raise QueryError(f"{device.label} answered, but has no sysUpTime")
    up = timedelta(seconds=reply.varbinds[0].value // 100)
    return f"{device.security}, sysUpTime {up}"


async def check_ssh(host: SshHostConfig, hosts: tuple[SshHostConfig, ...], limit_s: float) -> str:
    """Run ``uptime`` on ``host`` (through its jump host, if any, from ``hosts``).

    Raises:
        tools.errors.SourceUnavailable: it did not run (the reason says why).
    """
    async with LiveSsh(hosts, command_timeout=limit_s, connect_timeout=limit_s) as ssh:
        result = await ssh.run(host.name, "uptime")
    if result.status != "ok":
        raise SourceUnavailable(result.reason or result.stderr.strip() or result.status)
    if result.exit_status:
        raise QueryError(f"uptime exited with {result.exit_status}: {result.stderr.strip()}")
    return " ".join(result.stdout.split())


async def check_sources(config: StrataConfig, timeout_s: float = 10.0) -> list[SourceCheck]:
    """Check every configured source concurrently, each within ``timeout_s`` seconds.

    Returns:
        One row per source, in configuration order (empty when nothing is configured).
    """
    jobs: list[tuple[str, str, Callable[[], Awaitable[str]]]] = []
    http: tuple[tuple[str, HttpSource | None, Check], ...] = (
        ("prometheus", config.prometheus, check_prometheus),
        ("loki", config.loki, check_loki),
        ("alertmanager", config.alertmanager, check_alertmanager),
    )
    for name, src, fn in http:
        if src is not None:
            jobs.append((name, redact_url(src.url), partial(fn, src, timeout_s)))
    for file in config.log_files:
        jobs.append(("log file", str(file.path), partial(check_log_file, file)))
    for dev in config.snmp.devices:
        jobs.append(("snmp", dev.label, partial(check_snmp, dev)))
    for host in config.ssh.hosts:
        where = f"{host.name} ({host.username}@{host.host}:{host.port})"
        jobs.append(("ssh", where, partial(check_ssh, host, config.ssh.hosts, timeout_s)))

    async def run(source: str, target: str, fn: Callable[[], Awaitable[str]]) -> SourceCheck:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                detail, ok = await fn(), True
        except TimeoutError:
            detail, ok = f"no answer within {timeout_s:g} s", False
        except ToolError as exc:
            detail, ok = f"{exc.title}: {exc.message}", False
        except (ValueError, OSError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        ms = (time.perf_counter() - started) * 1000
        return SourceCheck(source, target, ok, round(ms, 1), detail)

    return list(await asyncio.gather(*(run(*job) for job in jobs)))
