"""tools.metrics.live against real Prometheus servers started by the test on loopback.

- A Prometheus backfilled with promtool from a small OpenMetrics file: typed instant and
  range results, the incident clock, bad queries (QueryError with Prometheus' message).
- A Prometheus scraping a real prometheus-node-exporter every second.
- A Prometheus behind ``--web.config.file`` with TLS (a CA made here) and a bcrypt'd
  basic-auth user: right/wrong password, CA file vs no CA vs ``insecure``.
- A Prometheus with an unreachable ``remote_read`` endpoint: its partial-data warnings.
- A stopped server, and a small fault-injecting HTTP proxy in front of a real Prometheus
  (503s, a stall) for the bounded retries and the timeout.
"""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tools.errors import QueryError, SourceUnavailable
from tools.http_auth import AuthenticationFailed, HttpAuth, RetryPolicy
from tools.metrics.live import LivePrometheus

PROMETHEUS = shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
PROMTOOL = shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (PROMETHEUS and PROMTOOL),
        reason="prometheus/promtool not installed (Debian package 'prometheus')",
    ),
]

T0 = 1_734_144_000  # 2024-12-14T02:40:00Z
FAST = RetryPolicy(retries=2, backoff_s=0.05)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, **client: object) -> None:
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=1.0, **client) as http:  # type: ignore[arg-type]
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if http.get(f"{url}/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{url} did not become ready; log:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, 15)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, 9)
            proc.wait()


class Prometheus:
    """One prometheus process on a free loopback port."""

    def __init__(
        self, workdir: Path, config: str, *, web_config: Path | None = None, **client: object
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        scheme = "https" if web_config and "tls_server_config" in web_config.read_text() else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        (workdir / "prometheus.yml").write_text(config)
        args = [
            str(PROMETHEUS),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=100y",
        ]
        if web_config is not None:
            args.append(f"--web.config.file={web_config}")
        log = workdir / "prometheus.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_ready(self.url, self.proc, log, **client)

    def stop(self) -> None:
        stop(self.proc)


def openmetrics() -> str:
    """A counter rising 2/s for 30 min, and a gauge that jumps from 5 to 50 at T0+15min."""
    lines = ["# TYPE strata_requests counter"]
    lines += [f'strata_requests_total{{pod="web-1"}} {2 * s} {T0 + s}' for s in range(0, 1801, 15)]
    lines += ["# TYPE strata_temp gauge"]
    lines += [f"strata_temp {5 if s < 900 else 50} {T0 + s}" for s in range(0, 1801, 15)]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    work = tmp_path_factory.mktemp("prom-backfilled")
    (work / "metrics.om").write_text(openmetrics())
    subprocess.run(
        [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", "metrics.om", "data"],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    prom = Prometheus(work, "scrape_configs: []\n")
    yield prom
    prom.stop()


async def test_instant_and_range_return_typed_data(backfilled: Prometheus) -> None:
    async with LivePrometheus(backfilled.url) as prom:
        (rate,) = await prom.instant("rate(strata_requests_total[5m])", at(1200))
        (temp,) = await prom.range("strata_temp", at(0), at(1800), 60)
        (scalar,) = await prom.instant("scalar(strata_temp) * 2", at(1800))
    assert rate.labels == {"pod": "web-1"}
    assert rate.value == pytest.approx(2.0)
    assert temp.labels == {"__name__": "strata_temp"}
    assert len(temp.points) == 31
    assert temp.points[0][0] == at(0) and temp.points[0][0].tzinfo is not None
    assert temp.values[:15] == [5.0] * 15 and temp.values[-1] == 50.0
    assert scalar.value == 100.0 and scalar.labels == {}


async def test_nothing_after_the_incident_clock(backfilled: Prometheus) -> None:
    async with LivePrometheus(backfilled.url, observed_at=at(600)) as prom:
        (temp,) = await prom.instant("strata_temp", at(1800))
        (series,) = await prom.range("strata_temp", at(0), at(1800), 60)
        assert await prom.range("strata_temp", at(700), at(1800), 60) == []
    assert temp.value == 5.0  # evaluated at the clock, not at the later time asked for
    assert series.points[-1][0] == at(600) and set(series.values) == {5.0}


async def test_bad_query_is_query_error_with_prometheus_message(backfilled: Prometheus) -> None:
    async with LivePrometheus(backfilled.url, retry=FAST) as prom:
        with pytest.raises(QueryError, match=r"parse error.*HTTP 400, bad_data"):
            await prom.instant("rate(strata_requests_total[5m]", at(1200))
        with pytest.raises(QueryError, match="exceeded maximum resolution"):
            await prom.range("strata_temp", at(0), at(1800), 0.01)
        with pytest.raises(QueryError, match="range vector"):
            await prom.instant("strata_temp[5m]", at(1200))


async def test_concurrent_queries_from_several_threads(backfilled: Prometheus) -> None:
    async with LivePrometheus(backfilled.url) as prom:
        results = await asyncio.gather(
            *(prom.instant("strata_temp", at(s)) for s in range(0, 1800, 30))
        )
        assert 1 < len(prom._clients) <= len(results)  # one client per worker thread
    assert [r[0].value for r in results] == [5.0 if s < 900 else 50.0 for s in range(0, 1800, 30)]


async def test_stopped_server_is_source_unavailable_after_bounded_retries(
    tmp_path: Path,
) -> None:
    prom = Prometheus(tmp_path, "scrape_configs: []\n")
    url = prom.url
    prom.stop()
    started = time.monotonic()
    async with LivePrometheus(url, retry=FAST, timeout_s=2) as live:
        with pytest.raises(SourceUnavailable, match=r"after 2 retries.*[Cc]onnection refused"):
            await live.instant("up", datetime.now(UTC))
    assert time.monotonic() - started < 3


async def test_partial_data_warnings_are_surfaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = free_port()
    config = f"remote_read:\n  - url: http://127.0.0.1:{dead}/read\n    read_recent: true\n"
    prom = Prometheus(tmp_path, config + "scrape_configs: []\n")
    try:
        async with LivePrometheus(prom.url) as live:
            assert await live.instant("vector(1)", datetime.now(UTC)) != []
            assert live.warnings == ()  # no storage read, no warning
            assert await live.instant("up", datetime.now(UTC)) == []
            (warning,) = live.warnings
    finally:
        prom.stop()
    assert warning.promql == "up"
    assert "remote_read" in warning.message and "connection refused" in warning.message
    assert "remote_read" in caplog.text


@pytest.fixture(scope="module")
def scraping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if NODE_EXPORTER is None:
        pytest.skip("prometheus-node-exporter not installed (Debian 'prometheus-node-exporter')")
    work = tmp_path_factory.mktemp("prom-scraping")
    port = free_port()
    with (work / "node.log").open("wb") as out:
        node = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--no-collector.systemd"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    try:
        prom = Prometheus(work, config)
    except BaseException:
        stop(node)
        raise
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # wait for two scrapes, so a range has points
        params = {"query": 'count_over_time(up{job="node"}[1m])'}
        result = httpx.get(f"{prom.url}/api/v1/query", params=params).json()["data"]["result"]
        if result and float(result[0]["value"][1]) >= 2:
            break
        time.sleep(0.2)
    yield prom
    prom.stop()
    stop(node)


async def test_scraped_node_exporter_data(scraping: Prometheus) -> None:
    now = datetime.now(UTC)
    async with LivePrometheus(scraping.url) as prom:
        (up,) = await prom.instant('up{job="node"}', now)
        load = await prom.instant("node_load1", now)
        cpu = await prom.range(
            "sum by (mode) (node_cpu_seconds_total)", now - timedelta(seconds=5), now, 1
        )
    assert up.value == 1.0 and up.labels["instance"].startswith("127.0.0.1:")
    assert len(load) == 1 and load[0].value >= 0
    modes = {s.labels["mode"] for s in cpu}
    assert {"idle", "user", "system"} <= modes
    assert all(s.points[-1][0] <= now for s in cpu)
    assert all(len(s.points) >= 2 for s in cpu)


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("strata test CA")).issuer_name(name("strata test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


PASSWORD = "c0rrect-h0rse-battery"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Path]]:
    bcrypt = pytest.importorskip("bcrypt", reason="bcrypt (a dev dependency) hashes the password")
    work = tmp_path_factory.mktemp("prom-secured")
    ca, cert, key = make_tls(work)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = work / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"basic_auth_users:\n  strata: '{hashed}'\n"
    )
    context = ssl.create_default_context(cafile=str(ca))
    prom = Prometheus(
        work, "scrape_configs: []\n", web_config=web, verify=context, auth=("strata", PASSWORD)
    )
    yield prom, ca
    prom.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_basic_auth_and_tls_with_a_ca_file(secured: tuple[Prometheus, Path]) -> None:
    prom, ca = secured
    assert prom.url.startswith("https://")
    good = HttpAuth(username="strata", password=PASSWORD, ca_file=ca)
    async with LivePrometheus(prom.url, auth=good, retry=FAST) as live:
        (one,) = await live.instant("vector(1)", datetime.now(UTC))
    assert one.value == 1.0
    lab = HttpAuth(username="strata", password=PASSWORD, insecure=True)
    async with LivePrometheus(prom.url, auth=lab, retry=FAST) as live:
        assert await live.instant("vector(2)", datetime.now(UTC)) != []


@pytest.mark.parametrize(
    "auth",
    [
        HttpAuth(username="strata", password="wrong-password-123"),
        HttpAuth(username="mallory", password=PASSWORD),
        HttpAuth(),
    ],
    ids=["wrong-password", "wrong-user", "no-credentials"],
)
async def test_wrong_credentials_fail_clearly_without_the_secret(
    secured: tuple[Prometheus, Path], auth: HttpAuth
) -> None:
    prom, ca = secured
    auth = auth.model_copy(update={"ca_file": ca})
    async with LivePrometheus(prom.url, auth=auth, retry=FAST) as live:
        with pytest.raises(
            AuthenticationFailed, match=r"rejected the credentials.*HTTP 401"
        ) as info:
            await live.instant("vector(1)", datetime.now(UTC))
    assert "wrong-password-123" not in str(info.value) and PASSWORD not in str(info.value)


async def test_unknown_ca_is_source_unavailable(secured: tuple[Prometheus, Path]) -> None:
    prom, _ = secured
    auth = HttpAuth(username="strata", password=PASSWORD)  # system CAs only
    async with LivePrometheus(prom.url, auth=auth, retry=FAST) as live:
        with pytest.raises(SourceUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await live.instant("vector(1)", datetime.now(UTC))


class FaultProxy:
    """A loopback HTTP proxy to a real server that first fails ``fail`` requests.

    Each failure answers ``status`` (with a body), or stalls ``stall_s`` seconds first.
    """

    def __init__(self, upstream: str, *, fail: int, status: int = 503, stall_s: float = 0) -> None:
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests += 1
                if proxy.requests <= fail:
                    time.sleep(stall_s)
                    body = b"upstream overloaded, try later"
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                with urllib.request.urlopen(upstream + self.path) as answer:
                    body = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_5xx_is_retried_with_backoff_then_answers(backfilled: Prometheus) -> None:
    proxy = FaultProxy(backfilled.url, fail=2, status=503)
    try:
        async with LivePrometheus(proxy.url, retry=FAST) as prom:
            (temp,) = await prom.instant("strata_temp", at(600))
    finally:
        proxy.close()
    assert temp.value == 5.0
    assert proxy.requests == 3


async def test_persistent_5xx_is_source_unavailable_after_bounded_retries(
    backfilled: Prometheus,
) -> None:
    proxy = FaultProxy(backfilled.url, fail=100, status=502)
    try:
        async with LivePrometheus(proxy.url, retry=FAST) as prom:
            with pytest.raises(
                SourceUnavailable, match=r"HTTP 502 \(after 2 retries\).*overloaded"
            ):
                await prom.instant("strata_temp", at(600))
    finally:
        proxy.close()
    assert proxy.requests == 3


async def test_an_answer_that_is_not_json_is_source_unavailable(backfilled: Prometheus) -> None:
    proxy = FaultProxy(backfilled.url, fail=100, status=200)  # e.g. an auth proxy's HTML page
    try:
        async with LivePrometheus(proxy.url, retry=FAST) as prom:
            with pytest.raises(SourceUnavailable, match="not with JSON"):
                await prom.instant("strata_temp", at(600))
    finally:
        proxy.close()


async def test_timeout_is_bounded(backfilled: Prometheus) -> None:
    proxy = FaultProxy(backfilled.url, fail=100, stall_s=1.5)
    started = time.monotonic()
    try:
        async with LivePrometheus(
            proxy.url, timeout_s=0.3, retry=RetryPolicy(retries=1, backoff_s=0.05)
        ) as prom:
            with pytest.raises(SourceUnavailable, match=r"(?i)timed out"):
                await prom.instant("strata_temp", at(600))
    finally:
        proxy.close()
    # Two attempts of (0.3 s + 1 s grace) each, not the proxy's stall times the retries.
    assert time.monotonic() - started < 3.5
    assert proxy.requests == 2


def test_now_is_used_only_as_an_upper_bound() -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    prom = LivePrometheus("http://127.0.0.1:9", observed_at=future)
    assert prom.clock() <= datetime.now(UTC)
    prom.close()
