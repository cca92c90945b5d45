"""Shared set-up of the UI tests: a pinned zone, a throw-away data directory, the apps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_harness import STP, make_corpus_app, make_stp_app

from agents.llm import resolve
from agents.models import Diagnosis
from agents.replay import replay
from tui.app import StrataApp
from tui.feedback import FeedbackStore


@pytest.fixture(autouse=True)
def _pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC, no colour overrides, and a data directory of the test's own."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    time.tzset()
    yield
    time.tzset()


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / "tui.sqlite3")


@pytest.fixture
def stp_app(store: FeedbackStore) -> StrataApp:
    return make_stp_app(store)


@pytest.fixture
def corpus_app(store: FeedbackStore) -> StrataApp:
    return make_corpus_app(store, whole=True)


@pytest.fixture(scope="session")
def stp_diagnosis() -> Diagnosis:
    """The STP scenario's diagnosis, replayed once for the session (real recorded sources)."""

    async def run() -> Diagnosis:
        return await replay(STP, await resolve("none"))

    return asyncio.run(run())
