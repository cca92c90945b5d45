"""The embedded queue: one SQLite file in WAL mode.

Every write commits with ``synchronous=FULL`` before the caller answers, so a
notification acknowledged with 2xx survives ``kill -9`` and a power cut. One connection
serves the process; calls run in a worker thread so the event loop never blocks on
``fsync``. Several processes may open the same file (SQLite's locking keeps them
apart), but sharing a queue between machines is PostgreSQL's job (:mod:`pg_store`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from strata.serve.store import (
    DETAIL_COLUMNS,
    SCHEMA,
    SUMMARY_COLUMNS,
    Completion,
    Intake,
    Job,
    Latest,
    QueueStats,
    Store,
    StoreError,
    plan_intake,
    priority_of,
    severity_of,
)
from tools.alertmanager.webhook import WebhookPayload

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
GROUP_COMMIT_MAX = 256
"""Most notifications committed in one transaction."""


class SqliteStore(Store):
    """The queue in one SQLite file (created with its directory when missing)."""

    def __init__(self, path: str | Path, *, flap_interval_s: float = 3600.0) -> None:
        self.path = Path(path)
        self.flap_interval_s = flap_interval_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[WebhookPayload, str, float, asyncio.Future[Intake]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                for statement in SCHEMA:
                    conn.execute(statement)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the queue {self.path}: {exc}") from exc
            return conn

        self._conn = await asyncio.to_thread(_open)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("the queue is not open")

        def _call() -> T:
            with self._lock:
                try:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = fn(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
                except sqlite3.Error as exc:
                    raise StoreError(f"queue {self.path}: {exc}") from exc

        return await asyncio.to_thread(_call)

    def _intake_one(
        self, conn: sqlite3.Connection, payload: WebhookPayload, body: str, now: float
    ) -> Intake:
        row = conn.execute(
            "SELECT id, resolved, received_at, status FROM incidents WHERE group_key = ? "
            "ORDER BY received_at DESC LIMIT 1",
            (payload.group_key,),
        ).fetchone()
        latest = Latest(row["id"], bool(row["resolved"]), row["received_at"]) if row else None
        action = plan_intake(latest, payload, now=now, flap_interval_s=self.flap_interval_s)
        severity = severity_of(payload)
        if action.kind == "new":
            status = "queued"
            conn.execute(
                "INSERT INTO incidents (id, group_key, alertname, severity, priority, status,"
                " resolved, received_at, updated_at, payload, available_at)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                (
                    action.incident_id, payload.group_key, payload.alertname, severity,
                    priority_of(severity), int(action.resolved), now, now, body, now,
                ),
            )  # fmt: skip
        else:
            status = row["status"] if row else "queued"
            conn.execute(
                "UPDATE incidents SET resolved = ?, updated_at = ?, payload = ?,"
                " notifications = notifications + 1 WHERE id = ?",
                (int(action.resolved), now, body, action.incident_id),
            )
        conn.execute(
            "INSERT INTO notifications (incident_id, received_at, status, body)"
            " VALUES (?, ?, ?, ?)",
            (action.incident_id, now, payload.status, body),
        )
        return Intake(action.incident_id, action.kind, status)

    async def intake(self, payload: WebhookPayload, body: str, *, now: float) -> Intake:
        """Store one notification; returns once it is committed.

        Notifications arriving together share one transaction (group commit): one
        ``fsync`` acknowledges them all, and a failed commit fails every one of them,
        so none is acknowledged without being stored.
        """
        future: asyncio.Future[Intake] = asyncio.get_running_loop().create_future()
        self._pending.append((payload, body, now, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[:GROUP_COMMIT_MAX],
                self._pending[GROUP_COMMIT_MAX:],
            )

            def _many(conn: sqlite3.Connection, batch: list[Any] = batch) -> list[Intake]:
                return [self._intake_one(conn, p, b, n) for p, b, n, _ in batch]

            try:
                results = await self._run(_many, write=True)
            except Exception as exc:  # every waiter learns it was not stored
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, StoreError) else StoreError(str(exc))
                        )
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def claim(self, owner: str, *, now: float, lease_s: float) -> Job | None:
        def _claim(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(
                "SELECT id FROM incidents WHERE (status = 'queued' AND available_at <= ?)"
                " OR (status = 'diagnosing' AND lease_until < ?)"
                " ORDER BY priority, received_at LIMIT 1",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            got = conn.execute(
                "UPDATE incidents SET status = 'diagnosing', lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1, updated_at = ? WHERE id = ?"
                " RETURNING id, payload, attempts, received_at",
                (owner, now + lease_s, now, row["id"]),
            ).fetchone()
            return Job(
                got["id"], json.loads(got["payload"]), got["attempts"], owner, got["received_at"]
            )

        return await self._run(_claim, write=True)

    async def renew(self, incident_id: str, owner: str, *, until: float) -> bool:
        def _renew(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE incidents SET lease_until = ? WHERE id = ? AND lease_owner = ?"
                " AND status = 'diagnosing'",
                (until, incident_id, owner),
            )
            return cur.rowcount == 1

        return await self._run(_renew, write=True)

    async def release(
        self,
        incident_id: str,
        owner: str,
        *,
        available_at: float,
        error: str | None,
        now: float,
        refund: bool = False,
    ) -> bool:
        def _release(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE incidents SET status = 'queued', lease_owner = NULL, lease_until = NULL,"
                " available_at = ?, error = ?, updated_at = ?, attempts = attempts - ?"
                " WHERE id = ? AND lease_owner = ? AND status = 'diagnosing'",
                (available_at, error, now, int(refund), incident_id, owner),
            )
            return cur.rowcount == 1

        return await self._run(_release, write=True)

    async def complete(
        self, incident_id: str, owner: str, result: Completion, *, now: float, notify: bool = False
    ) -> bool:
        def _complete(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE incidents SET status = ?, diagnosis = ?, report_markdown = ?,"
                " root_cause = ?, confidence = ?, error = ?, diagnosed_at = ?, updated_at = ?,"
                " lease_owner = NULL, lease_until = NULL, notify_pending = ?"
                " WHERE id = ? AND lease_owner = ? AND status = 'diagnosing'",
                (
                    result.status, result.diagnosis_json, result.report_markdown,
                    result.root_cause, result.confidence, result.error, now, now,
                    int(notify), incident_id, owner,
                ),
            )  # fmt: skip
            return cur.rowcount == 1

        return await self._run(_complete, write=True)

    async def notified(self, incident_id: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "UPDATE incidents SET notify_pending = 0 WHERE id = ?", (incident_id,)
            ),
            write=True,
        )

    async def owed_notifications(self, *, before: float, limit: int = 1000) -> list[str]:
        def _owed(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT id FROM incidents WHERE notify_pending = 1 AND diagnosed_at < ?"
                " ORDER BY diagnosed_at LIMIT ?",
                (before, limit),
            ).fetchall()
            return [r["id"] for r in rows]

        return await self._run(_owed, write=False)

    async def list(self, *, limit: int, status: str | None = None) -> list[dict[str, Any]]:
        def _list(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            where = ""
            args: list[Any] = [limit]
            if status is not None:
                where = "WHERE status = ? "
                args = [status, limit]
            rows = conn.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM incidents {where}ORDER BY received_at DESC LIMIT ?",
                args,
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._run(_list, write=False)

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        def _get(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                f"SELECT {DETAIL_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            return dict(row) if row else None

        return await self._run(_get, write=False)

    async def stats(self, *, now: float) -> QueueStats:
        def _stats(conn: sqlite3.Connection) -> QueueStats:
            counts = {
                r["status"]: r["n"]
                for r in conn.execute("SELECT status, COUNT(*) AS n FROM incidents GROUP BY status")
            }
            oldest = conn.execute(
                "SELECT MIN(received_at) AS t FROM incidents WHERE status = 'queued'"
            ).fetchone()["t"]
            live = conn.execute(
                "SELECT COUNT(*) AS n FROM incidents WHERE status = 'diagnosing'"
                " AND lease_until >= ?",
                (now,),
            ).fetchone()["n"]
            return QueueStats(counts, oldest, live)

        return await self._run(_stats, write=False)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone(), write=False)
