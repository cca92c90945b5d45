"""Fixtures for the serve tests: a real PostgreSQL per session, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from serve_harness import Postgres, postgres_bin


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server not installed (Debian 'postgresql', see .ci/system-deps)")
    pg = Postgres().start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A new, empty database on the session's PostgreSQL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"
