"""The durable queue's decisions, on SQLite and on a real PostgreSQL started by the tests.

Grouping by groupKey, re-notifications, resolve and flapping, priorities, leases and
their expiry, and (PostgreSQL) several processes sharing one queue without claiming a
job twice or opening a group twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from serve_harness import stp_payload

from strata.serve.store import Completion, Store, open_store
from tools.alertmanager.webhook import parse_webhook

pytestmark = pytest.mark.integration

DONE = Completion(
    "diagnosed", '{"verdict": "diagnosed"}', "# report", "network/stp_loop/sw1", 0.9, None
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = str(tmp_path / "q.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(url, flap_interval_s=100.0)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def put(store: Store, group: str, *, at: float, status: str = "firing",
              severity: str = "warning") -> str:  # fmt: skip
    data = stp_payload(group, status=status, severity=severity)
    result = await store.intake(parse_webhook(data), json.dumps(data), now=at)
    return f"{result.action}:{result.incident_id}"


async def test_group_lifecycle_repeats_resolve_and_flapping(store: Store) -> None:
    first = await put(store, "a", at=1000.0)
    assert first.startswith("new:")
    iid = first.split(":")[1]
    assert await put(store, "a", at=1001.0) == f"update:{iid}"  # re-notification
    assert (await put(store, "b", at=1002.0)).startswith("new:")  # another group
    job = await store.claim("w", now=1003.0, lease_s=30)
    assert job is not None and job.incident_id == iid
    assert await store.complete(iid, "w", DONE, now=1004.0)
    assert await put(store, "a", at=1005.0, status="resolved") == f"update:{iid}"
    row = await store.get(iid)
    assert row is not None and row["resolved"] and row["notifications"] == 3
    # Fires again within the flap interval: the same incident, no new job.
    assert await put(store, "a", at=1050.0) == f"reopen:{iid}"
    assert await put(store, "a", at=1060.0, status="resolved") == f"update:{iid}"
    # After the interval it is a new incident, diagnosed again.
    again = await put(store, "a", at=1000.0 + 101)
    assert again.startswith("new:") and again != f"new:{iid}"
    rows = await store.list(limit=10)
    assert [r["received_at"] for r in rows] == sorted(
        (r["received_at"] for r in rows), reverse=True
    )
    assert len(rows) == 3


async def test_critical_goes_first_then_oldest(store: Store) -> None:
    w1 = (await put(store, "w1", at=1.0)).split(":")[1]
    w2 = (await put(store, "w2", at=2.0)).split(":")[1]
    crit = (await put(store, "c", at=3.0, severity="critical")).split(":")[1]
    order = []
    for _ in range(3):
        job = await store.claim("w", now=10.0, lease_s=30)
        assert job is not None
        order.append(job.incident_id)
    assert order == [crit, w1, w2]
    assert await store.claim("w", now=10.0, lease_s=30) is None


async def test_expired_lease_is_claimed_again_and_the_loser_cannot_complete(store: Store) -> None:
    iid = (await put(store, "a", at=1.0)).split(":")[1]
    job = await store.claim("dead", now=2.0, lease_s=5)
    assert job is not None and job.attempts == 1
    assert await store.claim("other", now=6.0, lease_s=5) is None  # lease still live
    stats = await store.stats(now=6.0)
    assert stats.in_flight == 1 and stats.depth == 0
    again = await store.claim("other", now=7.5, lease_s=5)
    assert again is not None and again.incident_id == iid and again.attempts == 2
    assert not await store.complete(iid, "dead", DONE, now=8.0)
    assert not await store.renew(iid, "dead", until=100.0)
    assert await store.renew(iid, "other", until=100.0)
    assert await store.complete(iid, "other", DONE, now=9.0)
    row = await store.get(iid)
    assert (
        row is not None
        and row["status"] == "diagnosed"
        and row["root_cause"] == "network/stp_loop/sw1"
    )


async def test_release_delays_the_retry(store: Store) -> None:
    iid = (await put(store, "a", at=1.0)).split(":")[1]
    job = await store.claim("w", now=2.0, lease_s=30)
    assert job is not None
    assert await store.release(iid, "w", available_at=50.0, error="boom", now=3.0)
    assert await store.claim("w", now=49.0, lease_s=30) is None
    stats = await store.stats(now=49.0)
    assert stats.depth == 1 and stats.oldest_queued_at == 1.0
    job = await store.claim("w", now=50.0, lease_s=30)
    assert job is not None and job.attempts == 2
    # Handed back at shutdown: that attempt does not count.
    assert await store.release(iid, "w", available_at=51.0, error=None, now=51.0, refund=True)
    job = await store.claim("w", now=51.0, lease_s=30)
    assert job is not None and job.attempts == 2


async def test_postgres_shared_by_several_processes(pg_url: str) -> None:
    """Two stores (as two servers would) on one database: each group opens one incident,
    and every job is claimed by exactly one worker."""
    stores = [open_store(pg_url), open_store(pg_url)]
    for s in stores:
        await s.open()
    try:
        data = [stp_payload(f"g{i % 20}") for i in range(80)]
        await asyncio.gather(
            *(stores[i % 2].intake(parse_webhook(d), json.dumps(d), now=float(i))
              for i, d in enumerate(data))
        )  # fmt: skip
        assert len(await stores[0].list(limit=100)) == 20

        claimed: list[str] = []

        async def worker(s: Store, name: str) -> None:
            while (job := await s.claim(name, now=1000.0, lease_s=60)) is not None:
                claimed.append(job.incident_id)

        await asyncio.gather(*(worker(stores[i % 2], f"w{i}") for i in range(8)))
        assert len(claimed) == 20 and len(set(claimed)) == 20
    finally:
        for s in stores:
            await s.close()


async def test_unknown_queue_scheme_is_refused() -> None:
    from strata.serve.store import StoreError

    with pytest.raises(StoreError, match="unknown queue database"):
        open_store("mysql://x")
