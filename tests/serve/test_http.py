"""A real ``strata serve`` process on loopback: authentication, malformed, oversized and
slow requests are refused with the right status, and nothing of them is stored."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_harness import ROOT, STP, Serve, free_port, stp_payload

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-Zq8"
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("serve")
    (data / "basic").write_text("alertmanager:hunter2-basic\n")
    s = Serve(
        data, token=TOKEN,
        extra=["--basic-auth-file", str(data / "basic"), "--max-body", str(MAX_BODY),
               "--header-timeout", "2", "--body-timeout", "2", "--workers", "1"],
    ).start()  # fmt: skip
    try:
        yield s
    finally:
        assert s.stop() == 0


def stored(server: Serve) -> tuple[int, int, list[str]]:
    """(incidents, notifications, report files) straight from the queue file and the disk."""
    with sqlite3.connect(f"file:{server.data_dir / 'queue.db'}?mode=ro", uri=True) as db:
        incidents = db.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
        notes = db.execute("SELECT COUNT(*) FROM notifications").fetchone()[0]
    files = sorted(p.name for p in server.reports.glob("*")) if server.reports.exists() else []
    return incidents, notes, files


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def raw(server: Serve, data: bytes, *, read_timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
            if b"\r\n\r\n" in out and b'"}' in out:
                break
        return out


def test_refusals_store_nothing(server: Serve) -> None:
    payload = stp_payload("refused")
    no_auth = {"Authorization": ""}
    cases = [
        (server.post(payload, headers=no_auth), 401),
        (server.post(payload, headers={"Authorization": "Bearer wrong"}), 401),
        (server.post(payload, headers={"Authorization": f"Bearer {TOKEN}x"}), 401),
        (server.post(payload, headers=basic("alertmanager", "wrong")), 401),
        (server.post(payload, headers=basic("nobody", "hunter2-basic")), 401),
        (server.post(payload, headers={"Authorization": "Basic !!notbase64"}), 401),
        (
            server.post(
                b'{"version": "4", "status": "firing", "alerts": [',
            ),
            400,
        ),
        (server.post({"version": "4", "status": "firing", "alerts": []}), 400),
        (server.post(dict(payload, version="3")), 400),
        (server.post(dict(payload, alerts=[{"labels": {}}])), 400),
        (server.post(b"[1, 2]"), 400),
        (server.post(json.dumps(payload).encode("utf-16")), 400),
        (server.post(payload, headers={"Content-Type": "text/plain"}), 415),
        (server.post(b'{"pad": "' + b"x" * (MAX_BODY + 1) + b'"}'), 413),
    ]
    for reply, status in cases:
        assert reply.status_code == status, (status, reply.text)
        assert reply.json()["error"]
    assert "not JSON" in cases[6][0].json()["error"]
    assert "alerts" in cases[7][0].json()["error"]
    assert "version" in cases[8][0].json()["error"]
    assert cases[0][0].headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(server) == (0, 0, [])
    # The API and the metrics need the same credentials.
    assert server.get("/api/incidents", headers=no_auth).status_code == 401
    assert server.get("/metrics", headers=basic("alertmanager", "nope")).status_code == 401
    assert server.get("/healthz", headers=no_auth).status_code == 200
    metrics = server.get("/metrics", headers=basic("alertmanager", "hunter2-basic")).text
    assert 'strata_webhook_rejected_total{reason="unauthorised"} 6.0' in metrics
    assert 'strata_webhook_rejected_total{reason="malformed"} 6.0' in metrics
    assert 'strata_webhook_rejected_total{reason="too_large"} 1.0' in metrics
    assert "strata_webhook_accepted_total 0.0" in metrics
    # No secret ever reaches the log.
    text = server.log_path.read_text() if server.log_path else ""
    assert TOKEN not in text and "hunter2" not in text and '"status": 401' in text


def test_chunked_body_over_the_limit_is_refused(server: Serve) -> None:
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // 8192 + 2))
    head = (
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    reply = raw(server, head + body + b"0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert stored(server)[:2] == (0, 0)


def test_slowloris_headers_are_cut_off_and_others_are_served(server: Serve) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /webhook/alertmanager HTTP/1.1\r\nHost: t\r\n")
        closed_after = None
        for i in range(40):  # would take 20 s
            # A well-behaved client is served while the slow one dribbles.
            if i == 2:
                assert server.get("/healthz").status_code == 200
            try:
                sock.sendall(f"X-Slow-{i}: a\r\n".encode())
                time.sleep(0.5)
                sock.setblocking(False)
                try:
                    if sock.recv(1024) == b"":
                        closed_after = time.monotonic() - started
                        break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None and closed_after < 5.0, closed_after


def test_slow_and_stalled_bodies_time_out_and_store_nothing(server: Serve) -> None:
    body = b'{"version": "4", "status": "firing", "alerts": []}' + b" " * 150
    head = (
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        for i in range(0, len(body), 5):  # ~12 s at this pace
            try:
                sock.sendall(body[i : i + 5])
            except (BrokenPipeError, ConnectionResetError):
                break
            sock.setblocking(False)
            try:
                reply += sock.recv(4096)
                if reply:
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            time.sleep(0.3)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert time.monotonic() - started < 5.0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body[:10])  # then nothing
        started = time.monotonic()
        answer = sock.recv(4096)
        assert time.monotonic() - started < 5.0
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert stored(server)[:2] == (0, 0)


def test_accepted_payload_is_stored_and_readable(server: Serve) -> None:
    """The refusals above stored nothing; a valid payload does get stored (the check can fail)."""
    reply = server.post(stp_payload("accepted"), headers=basic("alertmanager", "hunter2-basic"))
    assert reply.status_code == 202, reply.text
    iid = reply.json()["incident"]
    assert stored(server)[:2] == (1, 1)
    one = server.get(f"/api/incidents/{iid}").json()
    assert one["id"] == iid and one["alerts"][0]["labels"]["alertname"] == "KubeAPILatencyHigh"
    assert server.get("/api/incidents/nope").status_code == 404
    assert server.get("/readyz").json() == {"status": "ready"}


def test_non_loopback_without_auth_is_refused_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "strata", "serve", "--listen", f"0.0.0.0:{free_port()}",
         "--scenario", str(STP), "--data-dir", str(tmp_path / "d"), "--model", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in proc.stderr
    assert not (tmp_path / "d").exists()


def _self_signed(dir: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strata-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = dir / "cert.pem", dir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(cafile=str(cert))
    s = Serve(tmp_path / "d", token=TOKEN, scheme="https",
              extra=["--tls-cert", str(cert), "--tls-key", str(key)])  # fmt: skip
    s.start(verify=ctx)
    try:
        reply = httpx.post(
            f"{s.url}/webhook/alertmanager", json=stp_payload("tls"), verify=ctx,
            headers=s.headers, timeout=30,
        )  # fmt: skip
        assert reply.status_code == 202, reply.text
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{s.port}/healthz", timeout=5).raise_for_status()
    finally:
        assert s.stop() == 0
