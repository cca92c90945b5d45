"""Run ``strata serve``: the queue, the worker pool and the HTTP server in one process.

Start-up refuses to listen on a non-loopback address without authentication. The
workers run in a child process (:mod:`worker_process`). SIGTERM and SIGINT stop intake
first, then the workers hand jobs in flight back to the queue, so a restart (here or
on another machine sharing the queue) picks them up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from strata.serve.app import Auth, Limits, create_app
from strata.serve.metrics import ServeMetrics
from strata.serve.notify import Target
from strata.serve.store import Store
from strata.serve.worker import WorkerSettings
from strata.serve.worker_process import WorkerProcess, WorkerSpec

log = logging.getLogger("strata.serve")


class ServeError(Exception):
    """A start-up problem; the message is for the operator."""


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``strata serve`` needs besides the queue and the diagnoser."""

    host: str = "127.0.0.1"
    port: int = 9095
    auth: Auth = field(default_factory=Auth)
    limits: Limits = field(default_factory=Limits)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    header_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    reports_dir: Path = Path("reports")
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    notify: tuple[Target, ...] = ()
    public_url: str | None = None


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) as a pair.

    Raises:
        ServeError: not of that form.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ServeError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9095")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServeSettings) -> None:
    """Refuse to serve a non-loopback address without authentication.

    Raises:
        ServeError: it would.
    """
    if not is_loopback(settings.host) and not settings.auth.enabled:
        raise ServeError(
            f"refusing to listen on {settings.host} without authentication: anyone who can "
            "reach it could queue incidents and read reports. Give --token-file or "
            "--basic-auth-file, or listen on 127.0.0.1"
        )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ServeError("TLS needs both --tls-cert and --tls-key")


def hypercorn_config(settings: ServeSettings) -> HypercornConfig:
    """Hypercorn's settings: bind, TLS and the slow-client limits."""
    config = HypercornConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    if settings.tls_cert is not None and settings.tls_key is not None:
        config.certfile = str(settings.tls_cert)
        config.keyfile = str(settings.tls_key)
    # The idle timer runs from accept until a request's head is complete, so it also
    # bounds how long a client may dribble its headers (slowloris).
    config.keep_alive_timeout = settings.header_timeout_s
    config.read_timeout = max(1, round(settings.read_timeout_s))
    config.h11_max_incomplete_size = 16 * 1024
    config.graceful_timeout = 5.0
    config.accesslog = None
    config.errorlog = logging.getLogger("strata.serve.hypercorn")
    return config


async def serve(
    settings: ServeSettings,
    store: Store,
    workers: WorkerSpec | None,
    *,
    model_name: str = "",
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop``); the store must not be open yet.

    ``workers`` describes the worker process (None: intake only, as a server whose
    queue other servers diagnose).

    Raises:
        ServeError: start-up refused (exposure, TLS files).
        strata.serve.store.StoreError: the queue cannot be opened.
    """
    check_exposure(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await store.open()
    metrics = ServeMetrics()
    pool = WorkerProcess(workers, metrics) if workers is not None else None
    app = create_app(
        store, auth=settings.auth, limits=settings.limits, metrics=metrics,
        ready=lambda: pool is None or pool.running,
    )  # fmt: skip
    if pool is not None:
        pool.start()
    scheme = "https" if settings.tls_cert else "http"
    log.info(
        "listening",
        extra={"url": f"{scheme}://{settings.host}:{settings.port}", "queue": repr(store),
               "workers": workers.settings.workers if workers else 0,
               "auth": settings.auth.enabled,
               "reports": str(workers.reports_dir) if workers else None, "model": model_name},
    )  # fmt: skip
    try:
        await hypercorn_serve(app, hypercorn_config(settings), shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        log.info("stopping: handing jobs in flight back to the queue")
        if pool is not None:
            await pool.stop()
        await store.close()
        log.info("stopped")
