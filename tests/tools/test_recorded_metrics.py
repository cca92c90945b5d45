"""tools.metrics.recorded against a real Prometheus and promtool, started by the test.

A sample after observed_at must be invisible to instant and range queries and to ``@``
modifiers; the process and its temporary TSDB must be gone after exit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools.errors import BackendStartError, QueryError, SourceUnavailable
from tools.metrics.recorded import RecordedPrometheus, filter_openmetrics, sample_timestamp

T0 = 1_734_144_000  # 2024-12-14T02:40:00Z
OBSERVED_TS = T0 + 1800
OBSERVED = datetime.fromtimestamp(OBSERVED_TS, tz=UTC)
FUTURE = OBSERVED_TS + 600

needs_prometheus = pytest.mark.skipif(
    not (
        shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
        and shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
    ),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)


def openmetrics() -> str:
    """A counter rising 2/s for 30 min, a gauge, and samples after observed_at."""
    lines = ["# HELP strata_requests Requests served.", "# TYPE strata_requests counter"]
    lines += [
        f'strata_requests_total{{pod="web-1",path="/a {{b}} \\"c\\""}} {2 * s} {T0 + s}'
        for s in range(0, 1801, 15)
    ]
    lines.append(f'strata_requests_total{{pod="web-1",path="/a {{b}} \\"c\\""}} 1e9 {FUTURE}')
    lines += ["# TYPE strata_temp gauge", f"strata_temp 5 {T0}", f"strata_temp 5 {OBSERVED_TS}"]
    lines.append(f"strata_temp 999 {OBSERVED_TS + 1}")
    lines += ["# TYPE strata_future_only gauge", f"strata_future_only 1 {FUTURE}", "# EOF"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def om_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.om"
    path.write_text(openmetrics(), encoding="utf-8")
    return path


def test_sample_timestamp_parsing() -> None:
    assert sample_timestamp("up 1 1734144000") == 1734144000.0
    assert sample_timestamp("up 1") is None
    assert sample_timestamp('x{a="} 9 9",b="\\"} 7 7"} 2 1700000000.5') == 1700000000.5
    assert sample_timestamp('x{a="1"} 2 100 # {trace_id="a b"} 1 200') == 100.0
    with pytest.raises(ValueError, match="unterminated"):
        sample_timestamp('x{a="1} 2 3')
    with pytest.raises(ValueError, match="value"):
        sample_timestamp("x 1 2 3")


def test_filter_keeps_comments_and_drops_later_samples(om_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "filtered.om"
    kept = filter_openmetrics(om_file, out, OBSERVED)
    text = out.read_text()
    assert kept == 121 + 2
    assert "999" not in text and "1e9" not in text and "strata_future_only 1" not in text
    assert "# TYPE strata_future_only gauge" in text
    assert text.endswith("# EOF\n")


def test_filter_names_a_bad_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.om"
    src.write_text('up 1 10\nup{job="x 1 20\n# EOF\n')
    with pytest.raises(BackendStartError, match=r"bad\.om:2: not an OpenMetrics sample"):
        filter_openmetrics(src, tmp_path / "out.om", OBSERVED)


async def test_missing_binary_names_the_package(
    om_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_BIN", "/nonexistent/prometheus")
    with pytest.raises(SourceUnavailable, match="Debian package 'prometheus'"):
        async with RecordedPrometheus(om_file, OBSERVED):
            pass


@needs_prometheus
@pytest.mark.integration
async def test_replay_queries_and_the_clock(om_file: Path) -> None:
    async with RecordedPrometheus(om_file, OBSERVED) as prom:
        # rate() over the backfilled counter: 2 per second
        [rate] = await prom.instant("rate(strata_requests_total[5m])", OBSERVED)
        assert rate.value == pytest.approx(2.0)
        assert rate.labels == {"pod": "web-1", "path": '/a {b} "c"'}

        # an instant query asked after observed_at is evaluated at observed_at
        [temp] = await prom.instant("strata_temp", OBSERVED + timedelta(hours=1))
        assert temp.value == 5.0
        assert await prom.instant("strata_future_only", OBSERVED + timedelta(hours=1)) == []
        [count] = await prom.instant(
            "max_over_time(strata_requests_total[1h])", OBSERVED + timedelta(hours=1)
        )
        assert count.value == 3600.0

        # range queries: end clamped, nothing later
        series = await prom.range(
            "strata_temp", OBSERVED - timedelta(minutes=10), OBSERVED + timedelta(hours=1), 60
        )
        [temp_series] = series
        assert max(temp_series.values) == 5.0
        assert temp_series.points[-1][0] == OBSERVED
        assert (
            await prom.range("strata_future_only", OBSERVED, OBSERVED + timedelta(hours=1), 60)
            == []
        )
        later = OBSERVED + timedelta(seconds=1)
        assert await prom.range("strata_temp", later, later + timedelta(hours=1), 60) == []

        # @ with a future timestamp reaches nothing that was not loaded
        assert await prom.instant(f"strata_future_only @ {FUTURE}", OBSERVED) == []
        [at_future] = await prom.instant(f"max_over_time(strata_temp[1h] @ {FUTURE})", OBSERVED)
        assert at_future.value == 5.0
        [peak] = await prom.instant(
            f"max_over_time(strata_requests_total[1h] @ {FUTURE})", OBSERVED
        )
        assert peak.value == 3600.0  # not the 1e9 recorded after observed_at
        only_later = f"max_over_time(strata_requests_total[30m] @ {FUTURE + 3600})"
        assert await prom.instant(only_later, OBSERVED) == []

        # scalars come back as one unlabeled sample
        [scalar] = await prom.instant("scalar(strata_temp) * 2", OBSERVED)
        assert (scalar.labels, scalar.value) == ({}, 10.0)

        # concurrent queries share the instance
        results = await asyncio.gather(
            *(prom.instant("rate(strata_requests_total[5m])", OBSERVED) for _ in range(8))
        )
        assert all(r[0].value == pytest.approx(2.0) for r in results)


@needs_prometheus
@pytest.mark.integration
async def test_bad_promql_is_a_query_error(om_file: Path) -> None:
    async with RecordedPrometheus(om_file, OBSERVED) as prom:
        with pytest.raises(QueryError, match="parse error") as info:
            await prom.instant("rate(strata_requests_total[5m]", OBSERVED)
        assert "HTTP 400" in str(info.value)
        with pytest.raises(QueryError, match="parse error"):
            await prom.range("sum by (", OBSERVED - timedelta(minutes=5), OBSERVED, 15)
        with pytest.raises(QueryError, match="range vector"):
            await prom.instant("strata_temp[5m]", OBSERVED)
        with pytest.raises(QueryError, match="a string"):
            await prom.instant('"text"', OBSERVED)


@needs_prometheus
@pytest.mark.integration
async def test_dead_server_is_unavailable(om_file: Path) -> None:
    async with RecordedPrometheus(om_file, OBSERVED) as prom:
        assert prom.pid is not None
        os.kill(prom.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        with pytest.raises(SourceUnavailable, match="did not answer"):
            await prom.instant("strata_temp", OBSERVED)
    assert prom.pid is None


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile puts the replay's directory, so that its removal can be checked."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@needs_prometheus
@pytest.mark.integration
async def test_process_and_directory_gone_after_exit(om_file: Path, tmp_root: Path) -> None:
    prom = RecordedPrometheus(om_file, OBSERVED)
    async with prom:
        pid = prom.pid
        assert pid is not None
        os.kill(pid, 0)  # running
        [workdir] = os.listdir(tmp_root)
        assert "data" in os.listdir(tmp_root / workdir)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert os.listdir(tmp_root) == []
    assert prom.pid is None
    with pytest.raises(SourceUnavailable, match="not running"):
        await prom.instant("up", OBSERVED)


@needs_prometheus
@pytest.mark.integration
async def test_promtool_failure_names_the_file(tmp_path: Path, tmp_root: Path) -> None:
    bad = tmp_path / "no_eof.om"
    bad.write_text(f"strata_temp 1 {T0}\n")
    with pytest.raises(BackendStartError, match=r"no_eof\.om.*# EOF"):
        async with RecordedPrometheus(bad, OBSERVED):
            pass
    assert os.listdir(tmp_root) == []


@needs_prometheus
@pytest.mark.integration
async def test_prometheus_failure_shows_its_log(
    om_file: Path, tmp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wrapper that makes prometheus refuse its flags: the error carries its log.
    fake = tmp_root.parent / "prometheus"
    fake.write_text(f'#!/bin/sh\nexec {shutil.which("prometheus")} --no-such-flag "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PROMETHEUS_BIN", str(fake))
    with pytest.raises(BackendStartError, match="no-such-flag"):
        async with RecordedPrometheus(om_file, OBSERVED, startup_timeout_s=5):
            pass
    assert os.listdir(tmp_root) == []


@needs_prometheus
@pytest.mark.integration
async def test_everything_after_observed_at_gives_an_empty_tsdb(tmp_path: Path) -> None:
    later = tmp_path / "later.om"
    later.write_text(f"# TYPE strata_temp gauge\nstrata_temp 1 {FUTURE}\n# EOF\n")
    async with RecordedPrometheus(later, OBSERVED) as prom:
        assert await prom.instant("strata_temp", OBSERVED) == []
