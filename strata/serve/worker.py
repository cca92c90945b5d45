"""The bounded worker pool: claim a job, diagnose under a lease, store the report.

A worker renews its lease while it diagnoses; if its process dies, the lease runs out
and any worker (here or in another process sharing the queue) claims the job again.
A job that raises is retried with back-off; one that has used up its attempts, by
raising or by losing its worker, ends as a "failed" report carrying the error — never
as silence. Reports land in the queue and as ``<id>.json`` / ``<id>.md`` files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.coordinator import failed_diagnosis
from agents.models import Diagnosis, Incident, ModelUse
from strata.report import render_markdown
from strata.serve.diagnosers import Diagnoser
from strata.serve.metrics import WorkerEvents
from strata.serve.notify import Notifier
from strata.serve.store import Completion, Job, Store, StoreError, summary
from tools.alertmanager.webhook import WebhookError, parse_webhook

log = logging.getLogger("strata.serve.worker")


@dataclass(frozen=True)
class WorkerSettings:
    """How the pool runs."""

    workers: int = 2
    lease_s: float = 60.0
    max_attempts: int = 3
    retry_backoff_s: float = 5.0
    diagnosis_timeout_s: float = 900.0
    poll_s: float = 1.0
    notify_resend_after_s: float = 120.0
    """At start, owed notifications older than this are sent again (younger ones may
    still be in flight in another process sharing the queue)."""


def write_report(reports_dir: Path, incident_id: str, diagnosis_json: str, markdown: str) -> None:
    """Write ``<id>.json`` and ``<id>.md`` atomically (a reader never sees half a file)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", diagnosis_json), (".md", markdown)):
        final = reports_dir / f"{incident_id}{suffix}"
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(final)


def completion_of(diagnosis: Diagnosis) -> Completion:
    """The stored form of a diagnosis."""
    rc = diagnosis.root_cause
    return Completion(
        status=diagnosis.verdict,
        diagnosis_json=diagnosis.to_json(),
        report_markdown=render_markdown(diagnosis),
        root_cause=f"{rc.layer}/{rc.fault}/{rc.component}" if rc else None,
        confidence=diagnosis.confidence if rc else None,
        error=diagnosis.error,
    )


class WorkerPool:
    """``settings.workers`` workers sharing one queue; start, wake, stop."""

    def __init__(
        self,
        store: Store,
        diagnoser: Diagnoser,
        *,
        settings: WorkerSettings,
        reports_dir: Path,
        events: WorkerEvents,
        model: ModelUse,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.diagnoser = diagnoser
        self.settings = settings
        self.reports_dir = reports_dir
        self.events = events
        self.model = model
        self.notifier = notifier
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.busy = 0

    def start(self) -> None:
        """Start the workers (and resend notifications a crash cut short)."""
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self._resend(), name="resend"))
        for n in range(self.settings.workers):
            owner = f"{self.identity}:{n}"
            self._tasks.append(asyncio.create_task(self._loop(owner), name=f"worker-{n}"))

    def wake(self) -> None:
        """A job was queued: stop waiting for the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """Every worker is alive (trivially, for an intake-only server with none)."""
        return all(not t.done() for t in self._tasks if t.get_name() != "resend")

    async def _resend(self) -> None:
        try:
            owed = await self.store.owed_notifications(
                before=time.time() - self.settings.notify_resend_after_s
            )
            if owed:
                log.info("resending owed notifications", extra={"count": len(owed)})
            for incident_id in owed:
                await self._notify(incident_id)
        except StoreError as exc:
            log.error("cannot resend owed notifications", extra={"error": str(exc)})

    async def _notify(self, incident_id: str, diagnosis: dict[str, Any] | None = None) -> None:
        assert self.notifier is not None
        row = await self.store.get(incident_id)
        if row is None:
            return
        if diagnosis is None and row["diagnosis"]:
            diagnosis = _loads(row["diagnosis"])

        async def done() -> None:
            try:
                await self.store.notified(incident_id)
            except StoreError as exc:  # sent again after a restart: at least once
                log.warning("cannot mark notified", extra={"incident": incident_id,
                                                           "error": str(exc)})  # fmt: skip

        self.notifier.submit(summary(row), diagnosis, done)

    async def stop(self) -> None:
        """Stop every worker; a job in flight goes back to the queue at once."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, owner: str) -> None:
        while True:
            try:
                job = await self.store.claim(owner, now=time.time(), lease_s=self.settings.lease_s)
            except StoreError as exc:
                log.error("claim failed", extra={"worker": owner, "error": str(exc)})
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
                continue
            self.busy += 1
            try:
                await self._run(job)
            except StoreError as exc:
                # The lease runs out and the job is claimed again: nothing is lost.
                log.error("queue error", extra={"incident": job.incident_id, "error": str(exc)})
            finally:
                self.busy -= 1

    async def _run(self, job: Job) -> None:
        if job.attempts > self.settings.max_attempts:
            await self._finish(
                job,
                self._failed(
                    job,
                    f"gave up after {job.attempts - 1} attempts: the worker diagnosing it "
                    "stopped without a result each time (lease expired)",
                ),
            )
            return
        log.info("diagnosing", extra={"incident": job.incident_id, "attempt": job.attempts})
        heartbeat = asyncio.create_task(self._heartbeat(job))
        started = time.perf_counter()
        try:
            diagnosis = await asyncio.wait_for(
                self._diagnose(job), timeout=self.settings.diagnosis_timeout_s
            )
        except asyncio.CancelledError:
            heartbeat.cancel()
            # Shutting down: hand the job back at once, without spending an attempt's wait.
            with contextlib.suppress(StoreError):
                await asyncio.shield(
                    self.store.release(
                        job.incident_id, job.owner, available_at=time.time(),
                        error=None, now=time.time(), refund=True,
                    )
                )  # fmt: skip
            raise
        except Exception as exc:  # anything a diagnosis can raise ends as a retry or report
            heartbeat.cancel()
            self.events.on_failed()
            error = (
                f"diagnosis timed out after {self.settings.diagnosis_timeout_s:.0f}s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            if job.attempts < self.settings.max_attempts and not isinstance(exc, WebhookError):
                delay = self.settings.retry_backoff_s * 2 ** (job.attempts - 1)
                log.warning(
                    "diagnosis raised; retrying",
                    extra={"incident": job.incident_id, "attempt": job.attempts,
                           "retry_in_s": delay, "error": error},
                )  # fmt: skip
                now = time.time()
                await self.store.release(
                    job.incident_id, job.owner, available_at=now + delay, error=error, now=now
                )
                return
            await self._finish(job, self._failed(job, f"after {job.attempts} attempts: {error}"))
            return
        heartbeat.cancel()
        await self._finish(job, diagnosis, time.perf_counter() - started)

    async def _diagnose(self, job: Job) -> Diagnosis:
        alert = parse_webhook(job.payload)

        def progress(who: str, what: str) -> None:
            if who == "model":
                self.events.on_model_call()

        return await self.diagnoser(alert, progress)

    async def _heartbeat(self, job: Job) -> None:
        every = max(0.2, self.settings.lease_s / 3)
        while True:
            await asyncio.sleep(every)
            try:
                held = await self.store.renew(
                    job.incident_id, job.owner, until=time.time() + self.settings.lease_s
                )
            except StoreError as exc:
                log.warning("lease renewal failed", extra={"incident": job.incident_id,
                                                           "error": str(exc)})  # fmt: skip
                continue
            if not held:
                log.warning("lease lost", extra={"incident": job.incident_id})
                return

    def _failed(self, job: Job, error: str) -> Diagnosis:
        try:
            alert = parse_webhook(job.payload)
        except WebhookError:
            # Stored payloads were validated at intake; this guards a hand-edited queue.
            alert = parse_webhook(
                {"version": "4", "status": "firing", "groupKey": "",
                 "alerts": [{"status": "firing", "labels": {}, "startsAt": "1970-01-01T00:00:00Z"}]}
            )  # fmt: skip
        now = datetime.now(UTC)
        incident = Incident(alert=alert, observed_at=now, window_start=now)
        return failed_diagnosis(incident, self.model, error, 0.0)

    async def _finish(self, job: Job, diagnosis: Diagnosis, seconds: float | None = None) -> None:
        result = completion_of(diagnosis)
        await asyncio.to_thread(
            write_report,
            self.reports_dir,
            job.incident_id,
            result.diagnosis_json,
            result.report_markdown,
        )
        stored = await self.store.complete(
            job.incident_id, job.owner, result, now=time.time(), notify=self.notifier is not None
        )
        if not stored:
            log.warning("lease lost before the report was stored; another worker has it",
                        extra={"incident": job.incident_id})  # fmt: skip
            return
        self.events.on_diagnosed(diagnosis.verdict, seconds)
        log.info(
            "report stored",
            extra={"incident": job.incident_id, "verdict": diagnosis.verdict,
                   "root_cause": result.root_cause, "confidence": result.confidence},
        )  # fmt: skip
        if self.notifier is not None:
            await self._notify(job.incident_id, _loads(result.diagnosis_json))


def _loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data
