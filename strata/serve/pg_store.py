"""The shared queue: PostgreSQL, for several ``strata serve`` processes on several machines.

Intake serialises per alert group with a transaction-scoped advisory lock, so two
servers receiving the same group at once still open one incident. Workers claim jobs
with ``FOR UPDATE SKIP LOCKED`` and hold them under a lease (``lease_until``): a worker
that dies stops renewing, and any process claims the job again once the lease has
expired. Leases compare wall clocks of the machines involved: keep them in NTP sync.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import Error as PgError
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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

PG_SCHEMA = [
    s.replace("seq INTEGER PRIMARY KEY", "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    for s in SCHEMA
]
POOL_MAX = 8


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("://", 1)[-1]:
        return url
    scheme, _, cred = head.partition("://")
    return f"{scheme}://{cred.split(':', 1)[0]}:***@{tail}"


class PostgresStore(Store):
    """The queue in a PostgreSQL database (tables created when missing)."""

    def __init__(self, url: str, *, flap_interval_s: float = 3600.0) -> None:
        self.url = url
        self.flap_interval_s = flap_interval_s
        self._pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self.url)!r})"

    async def open(self) -> None:
        pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_MAX,
            open=False,
            timeout=30.0,
            kwargs={"row_factory": dict_row, "autocommit": False},
        )
        try:
            await pool.open(wait=True, timeout=15.0)
            async with pool.connection() as conn:
                # Several servers may start together: one creates the tables at a time.
                await conn.execute("SELECT pg_advisory_xact_lock(7307)")
                for statement in PG_SCHEMA:
                    await conn.execute(statement)
        except (PgError, PoolTimeout, OSError) as exc:
            await pool.close()
            raise StoreError(f"cannot open the queue {_redact(self.url)}: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _conn(self) -> Any:
        if self._pool is None:
            raise StoreError("the queue is not open")
        return self._pool.connection()

    async def intake(self, payload: WebhookPayload, body: str, *, now: float) -> Intake:
        try:
            async with self._conn() as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (payload.group_key,)
                )
                cur = await conn.execute(
                    "SELECT id, resolved, received_at, status FROM incidents WHERE group_key = %s"
                    " ORDER BY received_at DESC LIMIT 1",
                    (payload.group_key,),
                )
                row = await cur.fetchone()
                latest = (
                    Latest(row["id"], bool(row["resolved"]), row["received_at"]) if row else None
                )
                action = plan_intake(latest, payload, now=now, flap_interval_s=self.flap_interval_s)
                severity = severity_of(payload)
                if action.kind == "new":
                    status = "queued"
                    await conn.execute(
                        "INSERT INTO incidents (id, group_key, alertname, severity, priority,"
                        " status, resolved, received_at, updated_at, payload, available_at)"
                        " VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s)",
                        (
                            action.incident_id, payload.group_key, payload.alertname, severity,
                            priority_of(severity), int(action.resolved), now, now, body, now,
                        ),
                    )  # fmt: skip
                else:
                    status = row["status"] if row else "queued"
                    await conn.execute(
                        "UPDATE incidents SET resolved = %s, updated_at = %s, payload = %s,"
                        " notifications = notifications + 1 WHERE id = %s",
                        (int(action.resolved), now, body, action.incident_id),
                    )
                await conn.execute(
                    "INSERT INTO notifications (incident_id, received_at, status, body)"
                    " VALUES (%s, %s, %s, %s)",
                    (action.incident_id, now, payload.status, body),
                )
                return Intake(action.incident_id, action.kind, status)
        except (PgError, PoolTimeout) as exc:
            raise StoreError(f"queue: {exc}") from exc

    async def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        try:
            async with self._conn() as conn, conn.transaction():
                cur = await conn.execute(sql, args)
                row: dict[str, Any] | None = await cur.fetchone() if cur.description else None
                return row
        except (PgError, PoolTimeout) as exc:
            raise StoreError(f"queue: {exc}") from exc

    async def _all(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            async with self._conn() as conn, conn.transaction():
                cur = await conn.execute(sql, args)
                rows: list[dict[str, Any]] = await cur.fetchall()
                return rows
        except (PgError, PoolTimeout) as exc:
            raise StoreError(f"queue: {exc}") from exc

    async def claim(self, owner: str, *, now: float, lease_s: float) -> Job | None:
        row = await self._one(
            "UPDATE incidents SET status = 'diagnosing', lease_owner = %s, lease_until = %s,"
            " attempts = attempts + 1, updated_at = %s"
            " WHERE id = (SELECT id FROM incidents"
            "   WHERE (status = 'queued' AND available_at <= %s)"
            "      OR (status = 'diagnosing' AND lease_until < %s)"
            "   ORDER BY priority, received_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING id, payload, attempts, received_at",
            (owner, now + lease_s, now, now, now),
        )
        if row is None:
            return None
        return Job(
            row["id"], json.loads(row["payload"]), row["attempts"], owner, row["received_at"]
        )

    async def renew(self, incident_id: str, owner: str, *, until: float) -> bool:
        row = await self._one(
            "UPDATE incidents SET lease_until = %s WHERE id = %s AND lease_owner = %s"
            " AND status = 'diagnosing' RETURNING id",
            (until, incident_id, owner),
        )
        return row is not None

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
        row = await self._one(
            "UPDATE incidents SET status = 'queued', lease_owner = NULL, lease_until = NULL,"
            " available_at = %s, error = %s, updated_at = %s, attempts = attempts - %s"
            " WHERE id = %s AND lease_owner = %s AND status = 'diagnosing' RETURNING id",
            (available_at, error, now, int(refund), incident_id, owner),
        )
        return row is not None

    async def complete(
        self, incident_id: str, owner: str, result: Completion, *, now: float, notify: bool = False
    ) -> bool:
        row = await self._one(
            "UPDATE incidents SET status = %s, diagnosis = %s, report_markdown = %s,"
            " root_cause = %s, confidence = %s, error = %s, diagnosed_at = %s, updated_at = %s,"
            " lease_owner = NULL, lease_until = NULL, notify_pending = %s"
            " WHERE id = %s AND lease_owner = %s AND status = 'diagnosing' RETURNING id",
            (
                result.status, result.diagnosis_json, result.report_markdown, result.root_cause,
                result.confidence, result.error, now, now, int(notify), incident_id, owner,
            ),
        )  # fmt: skip
        return row is not None

    async def notified(self, incident_id: str) -> None:
        await self._one(
            "UPDATE incidents SET notify_pending = 0 WHERE id = %s RETURNING id", (incident_id,)
        )

    async def owed_notifications(self, *, before: float, limit: int = 1000) -> list[str]:
        rows = await self._all(
            "SELECT id FROM incidents WHERE notify_pending = 1 AND diagnosed_at < %s"
            " ORDER BY diagnosed_at LIMIT %s",
            (before, limit),
        )
        return [r["id"] for r in rows]

    async def list(self, *, limit: int, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            return await self._all(
                f"SELECT {SUMMARY_COLUMNS} FROM incidents ORDER BY received_at DESC LIMIT %s",
                (limit,),
            )
        return await self._all(
            f"SELECT {SUMMARY_COLUMNS} FROM incidents WHERE status = %s"
            " ORDER BY received_at DESC LIMIT %s",
            (status, limit),
        )

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        return await self._one(
            f"SELECT {DETAIL_COLUMNS} FROM incidents WHERE id = %s", (incident_id,)
        )

    async def stats(self, *, now: float) -> QueueStats:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM incidents GROUP BY status", ())
        extra = await self._one(
            "SELECT (SELECT MIN(received_at) FROM incidents WHERE status = 'queued') AS oldest,"
            " (SELECT COUNT(*) FROM incidents WHERE status = 'diagnosing'"
            "  AND lease_until >= %s) AS live",
            (now,),
        )
        assert extra is not None
        return QueueStats(
            {r["status"]: int(r["n"]) for r in rows}, extra["oldest"], int(extra["live"])
        )

    async def ping(self) -> None:
        await self._one("SELECT 1 AS ok", ())
