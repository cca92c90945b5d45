"""The worker pool in its own process, so diagnoses never slow the intake down.

A diagnosis is CPU-heavy (specialists, reconciliation, a throw-away Prometheus per
replay); the webhook must still answer within milliseconds during an alert storm. So
``strata serve`` runs the HTTP intake in its main process and the pool in a child
process at a lower CPU priority (``nice``). The child opens the same queue, builds its
own model client and diagnoser, and sends its metric events back over a pipe. It stops
by itself, handing jobs in flight back to the queue, when the server stops or dies;
the server restarts a child that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from strata.serve.metrics import ServeMetrics
from strata.serve.notify import Target
from strata.serve.worker import WorkerSettings

log = logging.getLogger("strata.serve.workers")
RESTART_DELAY_S = 1.0
RESTART_DELAY_MAX_S = 30.0
"""A worker process that keeps dying is restarted less and less often, up to this."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the child needs, picklable."""

    queue_url: str
    flap_interval_s: float
    settings: WorkerSettings
    reports_dir: Path
    model_spec: str
    scenario: Path | None = None
    config: str | None = None
    notify: tuple[Target, ...] = ()
    public_url: str | None = None
    niceness: int = 10
    log_level: int = logging.INFO


class _PipeEvents:
    """WorkerEvents that travel to the parent."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def _send(self, *event: Any) -> None:
        with contextlib.suppress(OSError, ValueError):  # the parent is gone: nothing to count
            self.conn.send(event)

    def on_failed(self) -> None:
        self._send("failed")

    def on_diagnosed(self, verdict: str, seconds: float | None) -> None:
        self._send("diagnosed", verdict, seconds)

    def on_model_call(self) -> None:
        self._send("model_call")


def child_main(spec: WorkerSpec, conn: Any) -> None:
    """Entry point of the worker process."""
    from strata.serve.logs import setup_json_logging

    setup_json_logging(spec.log_level)
    with contextlib.suppress(OSError):
        os.nice(spec.niceness)
    asyncio.run(_child(spec, conn))


async def _child(spec: WorkerSpec, conn: Any) -> None:
    from agents.llm import resolve
    from strata.serve.diagnosers import Diagnoser, open_live_diagnoser, scenario_diagnoser
    from strata.serve.notify import Notifier
    from strata.serve.store import open_store
    from strata.serve.worker import WorkerPool

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # The server died (even by SIGKILL): stop too, handing the jobs back.
        loop.add_reader(parent.sentinel, stop.set)
    model = await resolve(spec.model_spec)
    async with contextlib.AsyncExitStack() as stack:
        diagnoser: Diagnoser
        if spec.scenario is not None:
            from tools.scenario.loader import load_scenario

            diagnoser = scenario_diagnoser(load_scenario(spec.scenario), model)
        else:
            from tools.config import load_config

            config = load_config(spec.config)
            from strata.config_cmd import protect

            protect(config)
            # Polls the switches from now on, until the pool below has stopped.
            diagnoser = await stack.enter_async_context(open_live_diagnoser(config, model))
        store = open_store(spec.queue_url, flap_interval_s=spec.flap_interval_s)
        await store.open()
        notifier = Notifier(list(spec.notify), public_url=spec.public_url) if spec.notify else None
        pool = WorkerPool(
            store, diagnoser, settings=spec.settings, reports_dir=spec.reports_dir,
            events=_PipeEvents(conn), model=model.use, notifier=notifier,
        )  # fmt: skip
        pool.start()
        log.info("workers started", extra={"workers": spec.settings.workers, "pid": os.getpid()})
        try:
            await stop.wait()
        finally:
            await pool.stop()
            if notifier is not None:
                await notifier.drain(5.0)
            await store.close()
    log.info("workers stopped", extra={"pid": os.getpid()})


class WorkerProcess:
    """Starts, supervises and stops the worker process; counts its events."""

    def __init__(self, spec: WorkerSpec, metrics: ServeMetrics) -> None:
        self.spec = spec
        self.metrics = metrics
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._readers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        """The child is alive."""
        return self._proc is not None and self._proc.is_alive()

    def wake(self) -> None:
        """Workers poll the queue; nothing to do across processes."""

    def _spawn(self) -> None:
        recv, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=child_main, args=(self.spec, send), name="strata-serve-workers"
        )
        proc.start()
        send.close()
        self._proc = proc
        reader = threading.Thread(target=self._read, args=(recv,), daemon=True)
        reader.start()
        self._readers.append(reader)

    def _read(self, conn: Any) -> None:
        while True:
            try:
                event = conn.recv()
            except (EOFError, OSError):
                return
            kind = event[0]
            if kind == "failed":
                self.metrics.on_failed()
            elif kind == "diagnosed":
                self.metrics.on_diagnosed(event[1], event[2])
            elif kind == "model_call":
                self.metrics.on_model_call()

    def start(self) -> None:
        """Start the child and watch it."""
        self.metrics.workers.set(self.spec.settings.workers)
        self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        delay = RESTART_DELAY_S
        started = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(RESTART_DELAY_S)
            proc = self._proc
            if proc is None or proc.is_alive() or self._stopping:
                continue
            # One that lived a while is restarted at once; one that dies at start backs off.
            lived = time.monotonic() - started
            delay = RESTART_DELAY_S if lived > RESTART_DELAY_MAX_S else delay
            log.error(
                "worker process died; starting another (its jobs return when their leases expire)",
                extra={"exitcode": proc.exitcode, "restart_in_s": delay},
            )
            await asyncio.sleep(delay - RESTART_DELAY_S)
            if self._stopping:
                return
            self._spawn()
            started = time.monotonic()
            delay = min(delay * 2, RESTART_DELAY_MAX_S)

    async def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the child and wait for it to hand its jobs back."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()
            await asyncio.to_thread(proc.join, timeout_s)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5.0)
        for reader in self._readers:
            await asyncio.to_thread(reader.join, 2.0)
