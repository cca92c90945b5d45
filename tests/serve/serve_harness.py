"""Real servers for the serve tests and the serve benchmark: ``strata serve``,
Alertmanager 0.25 and PostgreSQL, each started on loopback and stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
STP = ROOT / "scenarios" / "10_stp_loop_dns_symptoms"
ALERTMANAGER = shutil.which(os.environ.get("ALERTMANAGER_BIN") or "prometheus-alertmanager")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, *, timeout_s: float = 20.0, proc: subprocess.Popen[Any] | None = None,
              **kw: Any) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0, **kw).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout_s}s: {last}")


def stp_payload(group: str = "g1", *, status: str = "firing", severity: str = "warning",
                alerts: int = 1) -> dict[str, Any]:  # fmt: skip
    """The STP scenario's webhook payload, made into group ``group``."""
    data: dict[str, Any] = json.loads((STP / "alert.json").read_text())
    data["groupKey"] = f'{{}}:{{alertname="KubeAPILatencyHigh", group="{group}"}}'
    data["status"] = status
    data["commonLabels"] = dict(data["commonLabels"], severity=severity)
    first = data["alerts"][0]
    data["alerts"] = [
        dict(first, status=status, labels=dict(first["labels"], severity=severity, n=str(i)),
             fingerprint=f"{group}-{i}")
        for i in range(alerts)
    ]  # fmt: skip
    return data


@dataclass
class Serve:
    """A ``strata serve`` process."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra: Sequence[str] = ()
    token: str | None = None
    scheme: str = "http"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"

    def args(self) -> list[str]:
        args = [
            sys.executable, "-m", "strata", "serve", "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", str(self.data_dir), "--model", "none",
        ]  # fmt: skip
        if "--config" not in self.extra and "--scenario" not in self.extra:
            args += ["--scenario", str(STP)]
        if self.token is not None:
            token_file = self.data_dir / "token"
            token_file.write_text(self.token + "\n")
            args += ["--token-file", str(token_file)]
        return args + list(self.extra)

    def start(self, *, wait: bool = True, verify: Any = True) -> Serve:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"serve-{time.monotonic_ns()}.log"
        log = self.log_path.open("wb")
        # A session of its own: kill9() takes the server and its worker process down together.
        self.proc = subprocess.Popen(
            self.args(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if wait:
            wait_http(f"{self.url}/healthz", proc=self.proc, verify=verify)
        return self

    def logs(self) -> list[dict[str, Any]]:
        out = []
        if self.log_path is not None:
            for line in self.log_path.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"raw": line})
        return out

    def kill9(self) -> None:
        """SIGKILL the server and its worker process at once (a crashed machine)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def post(self, payload: Any, **kw: Any) -> httpx.Response:
        headers = dict(self.headers)
        headers.update(kw.pop("headers", {}))
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers.setdefault("Content-Type", "application/json")
        return httpx.post(f"{self.url}/webhook/alertmanager", content=body, headers=headers,
                          timeout=30, **kw)  # fmt: skip

    def get(self, path: str, **kw: Any) -> httpx.Response:
        headers = dict(self.headers)
        headers.update(kw.pop("headers", {}))
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30, **kw)

    def incidents(self) -> list[dict[str, Any]]:
        reply = self.get("/api/incidents?limit=1000")
        reply.raise_for_status()
        found: list[dict[str, Any]] = reply.json()["incidents"]
        return found

    def wait_done(self, count: int, *, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Wait until ``count`` incidents have a final report."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.incidents()
            done = [i for i in found if i["status"] in ("diagnosed", "abstained", "failed",
                                                        "resolved")]  # fmt: skip
            if len(done) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(done)}/{count} incidents done: {found}")
            time.sleep(0.2)


@dataclass
class Alertmanager:
    """A real Alertmanager whose only receiver posts to ``webhook_url``."""

    workdir: Path
    webhook_url: str
    token: str | None = None
    group_by: Sequence[str] = ("alertname", "group")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Alertmanager:
        assert ALERTMANAGER is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        receiver: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True,
                                    "max_alerts": 0}  # fmt: skip
        if self.token is not None:
            cred = self.workdir / "am-token"
            cred.write_text(self.token)
            receiver["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": str(cred)}
            }
        config = {
            "route": {
                "receiver": "strata", "group_by": list(self.group_by), "group_wait": "1s",
                "group_interval": "1s", "repeat_interval": "1h",
            },
            "receivers": [{"name": "strata", "webhook_configs": [receiver]}],
        }  # fmt: skip
        (self.workdir / "am.yml").write_text(json.dumps(config))
        log = (self.workdir / "am.log").open("wb")
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER, f"--config.file={self.workdir / 'am.yml'}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_http(f"{self.url}/-/ready", proc=self.proc)
        return self

    def push(self, alerts: list[dict[str, Any]]) -> None:
        reply = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=30)
        reply.raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian's layout), or None."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    ) if base.is_dir() else []  # fmt: skip
    return versions[-1] if versions else None


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster on a loopback port (as ``nobody`` when root)."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    datadir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://strata@127.0.0.1:{self.port}/postgres"

    def start(self) -> Postgres:
        bindir = postgres_bin()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL server under /usr/lib/postgresql")
        root = os.geteuid() == 0
        # postgres refuses to run as root: run it as nobody, in a directory nobody owns.
        self.datadir = Path(tempfile.mkdtemp(prefix="strata-pg-"))
        user: dict[str, Any] = {}
        if root:
            os.chown(self.datadir, 65534, 65534)
            user = {"user": 65534, "group": 65534, "extra_groups": []}
        pgdata = self.datadir / "data"
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(pgdata), "-U", "strata", "-A", "trust",
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, cwd=self.datadir, **user,
        )  # fmt: skip
        log = (self.datadir / "pg.log").open("wb")
        self.proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.datadir}",
             "-c", "max_connections=100"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.datadir, **user,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.datadir / "pg.log").read_text())
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not become ready in 30s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
