"""``strata config check``, ``diagnose``, ``record`` and ``replay`` against a live site on loopback.

The site is built from the committed seed ``scenarios/03_disk_pressure`` (root cause in its
metrics: node-2's root filesystem fills up): a real Prometheus backfilled from its
``metrics.om`` with promtool, behind basic auth; a real Alertmanager holding the seed's
alert; net-snmp's snmpd (SNMPv3 authPriv); OpenSSH's sshd (an encrypted client key); and
snmpsim serving ``snmp_data/growing.snmprec`` (a switch whose error and STP counters
grow) under a secret community. Every secret reaches Strata through ``*_env`` or
``*_file`` in the ``strata.toml`` the test writes, and every command's output, log and
recording is searched for them.

Two incidents: the seed's, diagnosed and recorded at its own clock (``--at``: Prometheus
as of then; SNMP and SSH, which show only the present, left out); and a live one now, on
the growing switch, recorded with its SNMP polls and SSH output. Both recordings replay to
the live root cause. Last, with Prometheus stopped, the diagnosis still comes, naming
metrics as what it could not see.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "03_disk_pressure"
GROWING = Path(__file__).with_name("snmp_data") / "growing.snmprec"
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
SNMPD, SSHD = Path("/usr/sbin/snmpd"), Path("/usr/sbin/sshd")
SNMPSIM = Path(sys.executable).with_name("snmpsim-command-responder")

PROM_PASSWORD = "prom-pass-7c1e9a0b44"
WRONG_PASSWORD = "wrong-pass-5e8d21c7"
SNMP_AUTH, SNMP_PRIV = "snmp-auth-4d2f8e61", "snmp-priv-93b0a7c5"
SSH_PASSPHRASE = "ssh-phrase-2a6d1f08"
LAB_COMMUNITY = "lab-c0mmunity-5e3f"
SECRETS = (PROM_PASSWORD, WRONG_PASSWORD, SNMP_AUTH, SNMP_PRIV, SSH_PASSPHRASE, LAB_COMMUNITY)
ENV = {
    "STRATA_E2E_SNMP_AUTH": SNMP_AUTH,
    "STRATA_E2E_SSH_PASSPHRASE": SSH_PASSPHRASE,
    "STRATA_E2E_LAB_COMMUNITY": LAB_COMMUNITY,
    "STRATA_E2E_WRONG_PASSWORD": WRONG_PASSWORD,
}
SEED_META = yaml.safe_load((SEED / "scenario.yaml").read_text())
OBSERVED_AT = SEED_META["observed_at"]
SEED_FINGERPRINT = json.loads((SEED / "alert.json").read_text())["alerts"][0]["fingerprint"]


def _missing() -> list[str]:
    need = {
        "prometheus/promtool (Debian 'prometheus')": PROMETHEUS and PROMTOOL,
        "prometheus-alertmanager": ALERTMANAGER,
        "snmpd (Debian 'snmpd')": SNMPD.exists(),
        "sshd (Debian 'openssh-server')": SSHD.exists(),
        "snmpsim-command-responder (pip 'snmpsim')": SNMPSIM.exists(),
    }
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        need["bcrypt (pip, hashes Prometheus' basic-auth password)"] = False
    return [name for name, ok in need.items() if not ok]


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_missing()), reason=f"not installed: {', '.join(_missing())}"),
]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(cmd: list[str], log: Path, ready: str, env: dict[str, str] | None = None) -> Any:
    """Start a server (output to ``log``) and wait until ``ready`` appears in its log."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 20
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"{cmd[0]} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: Any) -> None:
    """SIGTERM to the server's PID, then reap it (SIGKILL if it lingers)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string, for the text used here


def table(header: str, values: dict[str, Any], *, array: bool = False) -> str:
    head = f"[[{header}]]" if array else f"[{header}]"
    return head + "\n" + "".join(f"{k} = {toml(v)}\n" for k, v in values.items()) + "\n"


def topology_toml(topology: dict[str, list[dict[str, Any]]]) -> str:
    return "".join(
        table(f"topology.{part}", item, array=True)
        for part, items in topology.items()
        for item in items
    )


@dataclass
class Site:
    """The running servers, and where the configuration's secrets live."""

    work: Path
    prometheus: Any
    prom_url: str
    am_url: str
    snmpd_port: int
    snmpsim_port: int
    sshd_port: int
    client_key: Path
    known_hosts: Path
    prom_password_file: Path
    snmp_priv_file: Path

    def config(self, name: str, body: str) -> Path:
        path = self.work / name
        path.write_text('window_minutes = 30\n\n[model]\nspec = "none"\n\n' + body)
        return path

    def ssh_host(self, name: str, **extra: Any) -> str:
        return table(
            "ssh.hosts",
            {
                "name": name,
                "host": "127.0.0.1",
                "port": self.sshd_port,
                "username": getpass.getuser(),
                "client_keys": [str(self.client_key)],
                "passphrase_env": "STRATA_E2E_SSH_PASSPHRASE",
                "known_hosts": str(self.known_hosts),
            }
            | extra,
            array=True,
        )

    def seed_config(self) -> Path:
        """The seed incident's site: every source answers, the seed's topology."""
        return self.config(
            "seed.toml",
            table("prometheus", {"url": self.prom_url, "timeout_s": 5})
            + table("prometheus.auth", {"username": "strata", "password_file": str(self.prom_password_file)})
            + table("alertmanager", {"url": self.am_url, "timeout_s": 5})
            + table("snmp", {"polls": 2, "interval_s": 1.0})
            + table(
                "snmp.devices",
                {
                    "name": "sw1",
                    "host": "127.0.0.1",
                    "port": self.snmpd_port,
                    "version": "v3",
                    "user": "strata",
                    "auth_protocol": "SHA",
                    "auth_key_env": "STRATA_E2E_SNMP_AUTH",
                    "priv_protocol": "AES",
                    "priv_key_file": str(self.snmp_priv_file),
                },
                array=True,
            )
            + self.ssh_host("node-2")
            + topology_toml(SEED_META["topology"]),
        )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import asyncssh
    import bcrypt

    work = tmp_path_factory.mktemp("live-site")
    procs: list[Any] = []
    try:
        # Prometheus: the seed's metrics, backfilled; basic auth with a bcrypt'd password.
        prom_dir = work / "prometheus"
        prom_dir.mkdir()
        subprocess.run(
            [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics",
             str(SEED / "metrics.om"), str(prom_dir / "data")],
            check=True, capture_output=True,
        )  # fmt: skip
        hashed = bcrypt.hashpw(PROM_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (prom_dir / "web.yml").write_text(f"basic_auth_users:\n  strata: '{hashed}'\n")
        (prom_dir / "prometheus.yml").write_text("scrape_configs: []\n")
        prom_port = free_port()
        prometheus = start(
            [str(PROMETHEUS), f"--config.file={prom_dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={prom_dir / 'data'}", "--storage.tsdb.retention.time=100y",
             f"--web.listen-address=127.0.0.1:{prom_port}",
             f"--web.config.file={prom_dir / 'web.yml'}"],
            prom_dir / "prometheus.log", "Server is ready to receive web requests",
        )  # fmt: skip
        procs.append(prometheus)
        prom_password_file = work / "prometheus.password"
        prom_password_file.write_text(PROM_PASSWORD + "\n")

        # Alertmanager, holding the seed's alert (as Prometheus would have sent it).
        am_port = free_port()
        (work / "am.yml").write_text(
            "route: {receiver: 'null', group_by: [alertname]}\nreceivers: [{name: 'null'}]\n"
        )
        procs.append(
            start(
                [str(ALERTMANAGER), f"--config.file={work / 'am.yml'}",
                 f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                 "--cluster.listen-address="],
                work / "am.log", "Listening on",
            )
        )  # fmt: skip
        am_url = f"http://127.0.0.1:{am_port}"
        seed_alert = json.loads((SEED / "alert.json").read_text())["alerts"][0]
        post = {k: seed_alert[k] for k in ("labels", "annotations", "startsAt", "generatorURL")}
        with httpx.Client(base_url=am_url, timeout=2) as http:
            http.post("/api/v2/alerts", json=[post]).raise_for_status()
            deadline = time.monotonic() + 10
            while not http.get("/api/v2/alerts").json():
                assert time.monotonic() < deadline, "Alertmanager did not take the alert"
                time.sleep(0.05)

        # snmpd: an SNMPv3 authPriv user.
        snmpd_port = free_port(socket.SOCK_DGRAM)
        snmp_dir = work / "snmpd"
        snmp_dir.mkdir()
        (snmp_dir / "snmpd.conf").write_text(
            f"agentAddress udp:127.0.0.1:{snmpd_port}\n"
            f"createUser strata SHA {SNMP_AUTH} AES {SNMP_PRIV}\nrouser strata priv\n"
        )
        snmp_env = {**os.environ, "SNMP_PERSISTENT_DIR": str(snmp_dir / "persist"), "MIBS": ""}
        procs.append(
            start(
                [str(SNMPD), "-f", "-Lo", "-C", "-c", str(snmp_dir / "snmpd.conf"),
                 "-p", str(snmp_dir / "pid"), "-m", ""],
                snmp_dir / "snmpd.log", "NET-SNMP version", snmp_env,
            )
        )  # fmt: skip
        snmp_priv_file = work / "snmp.priv"
        snmp_priv_file.write_text(SNMP_PRIV)

        # snmpsim: the growing switch, under a secret community (the file's name).
        sim_dir = work / "snmpsim"
        (sim_dir / "data").mkdir(parents=True)
        shutil.copy(GROWING, sim_dir / "data" / f"{LAB_COMMUNITY}.snmprec")
        snmpsim_port = free_port(socket.SOCK_DGRAM)
        procs.append(
            start(
                [str(SNMPSIM), f"--data-dir={sim_dir / 'data'}",
                 f"--agent-udpv4-endpoint=127.0.0.1:{snmpsim_port}",
                 f"--cache-dir={sim_dir / 'cache'}"],
                sim_dir / "snmpsim.log", "Listening at UDP/IPv4 endpoint",
                {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
            )
        )  # fmt: skip

        # sshd: an encrypted client key, a pinned host key.
        ssh_dir = work / "ssh"
        ssh_dir.mkdir()
        client = asyncssh.generate_private_key("ssh-ed25519")
        client_key = ssh_dir / "id_node"
        client.write_private_key(client_key, passphrase=SSH_PASSPHRASE, rounds=16,
                                 ignore_few_rounds=True)  # fmt: skip
        client_key.chmod(0o600)
        (ssh_dir / "authorized_keys").write_text(client.export_public_key().decode())
        host = asyncssh.generate_private_key("ssh-ed25519")
        host.write_private_key(ssh_dir / "host_key")
        (ssh_dir / "host_key").chmod(0o600)
        sshd_port = free_port()
        known_hosts = ssh_dir / "known_hosts"
        known_hosts.write_text(
            f"[127.0.0.1]:{sshd_port} {host.export_public_key().decode().strip()}\n"
        )
        (ssh_dir / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {sshd_port}\nHostKey {ssh_dir / 'host_key'}\n"
            f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {ssh_dir / 'sshd.pid'}\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        procs.append(
            start(
                [str(SSHD), "-D", "-e", "-f", str(ssh_dir / "sshd_config")],
                ssh_dir / "sshd.log", "Server listening on 127.0.0.1",
            )
        )  # fmt: skip
        yield Site(
            work=work,
            prometheus=prometheus,
            prom_url=f"http://127.0.0.1:{prom_port}",
            am_url=am_url,
            snmpd_port=snmpd_port,
            snmpsim_port=snmpsim_port,
            sshd_port=sshd_port,
            client_key=client_key,
            known_hosts=known_hosts,
            prom_password_file=prom_password_file,
            snmp_priv_file=snmp_priv_file,
        )
    finally:
        for proc in reversed(procs):
            stop(proc)


def strata(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``strata`` CLI; it must never crash, nor show a secret on stdout or stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "strata", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr, f"a secret leaked from strata {args[0]}"
    return done


def assert_no_secrets(directory: Path) -> None:
    for file in directory.iterdir():
        text = file.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"a secret was written into {file.name}"


def rows(stdout: str) -> dict[str, list[str]]:
    """``strata config check``'s table: source name -> [target, status, latency, detail]."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        parts = line.split("  ")
        cells = [p.strip() for p in parts if p.strip()]
        if cells and cells[0] in ("prometheus", "loki", "alertmanager", "snmp", "ssh"):
            out[cells[0] if cells[0] not in out else f"{cells[0]}#2"] = cells[1:]
    return out


def root_cause(diagnosis: dict[str, Any]) -> tuple[str, str, str]:
    rc = diagnosis["root_cause"]
    return rc["layer"], rc["fault"], rc["component"]


def test_config_check_reports_every_source(site: Site) -> None:
    done = strata("config", "check", "--config", site.seed_config(), cwd=site.work)
    assert done.returncode == 0, done.stdout + done.stderr
    table_ = rows(done.stdout)
    assert set(table_) == {"prometheus", "alertmanager", "snmp", "ssh"}, done.stdout
    assert all(row[1] == "ok" for row in table_.values()), done.stdout
    assert table_["prometheus"][0] == site.prom_url
    assert "1 active alert" in table_["alertmanager"][-1]
    assert "v3 authPriv SHA/AES, sysUpTime" in table_["snmp"][-1]
    assert "load average" in table_["ssh"][-1]
    assert "not configured: loki" in done.stdout
    assert "4 of 4 sources answered" in done.stdout


def test_config_check_names_each_failure(site: Site) -> None:
    wrong_host_key = site.work / "wrong_known_hosts"
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    wrong_host_key.write_text(f"[127.0.0.1]:{site.sshd_port} {other}\n")
    broken = site.config(
        "broken.toml",
        table("prometheus", {"url": site.prom_url, "timeout_s": 3})
        + table("prometheus.auth", {"username": "strata", "password_env": "STRATA_E2E_WRONG_PASSWORD"})
        + table("alertmanager", {"url": f"http://127.0.0.1:{free_port()}", "timeout_s": 2})
        + table(
            "snmp.devices",
            {"name": "sw1", "host": "127.0.0.1", "port": site.snmpd_port,
             "community_env": "STRATA_E2E_LAB_COMMUNITY", "timeout_s": 0.5, "retries": 0},
            array=True,
        )
        + site.ssh_host("node-2", known_hosts=str(wrong_host_key)),
    )  # fmt: skip
    started = time.monotonic()
    done = strata("config", "check", "--config", broken, "--timeout", "5", cwd=site.work)
    assert time.monotonic() - started < 15
    assert done.returncode == 1, done.stdout + done.stderr
    table_ = rows(done.stdout)
    assert all(row[1] == "FAIL" for row in table_.values()), done.stdout
    assert "rejected the credentials (HTTP 401)" in table_["prometheus"][-1]
    assert "did not answer" in table_["alertmanager"][-1]
    assert "no response" in table_["snmp"][-1] and "wrong community" in table_["snmp"][-1]
    assert "host key" in table_["ssh"][-1] and "not verified" in table_["ssh"][-1]
    assert "0 of 4 sources answered; 4 failed" in done.stdout


def test_diagnose_at_the_seed_clock_finds_the_seed_root_cause(site: Site) -> None:
    done = strata(
        "-v", "diagnose", "--config", site.seed_config(), "--alert", SEED / "alert.json",
        "--at", OBSERVED_AT, "--json", cwd=site.work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    diagnosis = json.loads(done.stdout)
    assert root_cause(diagnosis) == ("storage", "disk_full", "node-2")
    assert diagnosis["incident"]["observed_at"].startswith("2025-01-26T02:50:30")
    unseen = "\n".join(diagnosis["unavailable"])
    assert "snmp: left out: it shows the present" in unseen
    assert "ssh: left out: it shows the present" in unseen
    assert "logs: no [loki] in the configuration" in unseen
    assert not any(u.startswith("metrics") for u in diagnosis["unavailable"])


def test_record_from_alertmanager_then_replay(site: Site) -> None:
    out = site.work / "recorded-seed"
    done = strata(
        "record", "--config", site.seed_config(), "--fingerprint", SEED_FINGERPRINT,
        "--at", OBSERVED_AT, "--window", "30m", "--out", out, cwd=site.work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "live diagnosis: storage / disk_full / node-2" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["alert.json", "metrics.om", "scenario.yaml"]
    assert_no_secrets(out)
    meta = yaml.safe_load((out / "scenario.yaml").read_text())
    assert "ground_truth" not in meta and meta["id"].startswith("rec_20250126T025030Z_")
    assert meta["observed_at"] == "2025-01-26T02:50:30Z"
    assert meta["window"]["start"] == "2025-01-26T02:20:30Z"
    assert meta["topology"]["nodes"][1]["name"] == "node-2"
    alert = json.loads((out / "alert.json").read_text())
    assert alert["alerts"][0]["fingerprint"] == SEED_FINGERPRINT
    assert alert["groupLabels"] == {"alertname": "KubeNodePressure"}
    assert strata("validate", out, cwd=site.work).returncode == 0
    replayed = strata("replay", out, "--json", "--model", "none", "-q", cwd=site.work)
    assert replayed.returncode == 0, replayed.stderr
    assert root_cause(json.loads(replayed.stdout)) == ("storage", "disk_full", "node-2")


def test_live_incident_now_recorded_with_snmp_and_ssh_replays_the_same(site: Site) -> None:
    alert = site.work / "lab-alert.json"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    labels = {"alertname": "NodeNetworkReceiveErrs", "node": "node-1", "severity": "warning"}
    alert.write_text(json.dumps({
        "version": "4", "status": "firing", "receiver": "strata", "commonLabels": labels,
        "alerts": [{"status": "firing", "labels": labels, "startsAt": now,
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "5ad1f0c4e2b7a9d3"}],
    }))  # fmt: skip
    config = site.config(
        "lab.toml",
        table("snmp", {"polls": 2, "interval_s": 1.0})
        + table(
            "snmp.devices",
            {"name": "sw-lab", "host": "127.0.0.1", "port": site.snmpsim_port,
             "community_env": "STRATA_E2E_LAB_COMMUNITY"},
            array=True,
        )
        + site.ssh_host("node-1")
        + table("topology.nodes", {"name": "node-1", "switch": "sw-lab", "port": 2}, array=True)
        + table("topology.switches", {"name": "sw-lab"}, array=True),
    )  # fmt: skip
    out = site.work / "recorded-lab"
    done = strata("record", "--config", config, "--alert", alert, "--out", out, cwd=site.work)
    assert done.returncode == 0, done.stdout + done.stderr
    live = next(x for x in done.stdout.splitlines() if x.startswith("live diagnosis: "))
    assert live.startswith("live diagnosis: network / "), done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "alert.json", "scenario.yaml", "snmp.jsonl", "ssh.jsonl",
    ]  # fmt: skip
    assert_no_secrets(out)
    polls = {json.loads(x)["ts"] for x in (out / "snmp.jsonl").read_text().splitlines()}
    assert len(polls) == 2
    [df] = [json.loads(x) for x in (out / "ssh.jsonl").read_text().splitlines()]
    assert (df["host"], df["command"], df["exit_status"]) == ("node-1", "df -h", 0)
    assert "Filesystem" in df["stdout"]
    replayed = strata("replay", out, "--json", "--model", "none", "-q", cwd=site.work)
    assert replayed.returncode == 0, replayed.stderr
    layer, fault, component = root_cause(json.loads(replayed.stdout))
    assert live == f"live diagnosis: {layer} / {fault} / {component}" + live[live.index(" (") :]


def test_with_prometheus_stopped_the_diagnosis_names_metrics(site: Site) -> None:
    stop(site.prometheus)  # the last test: the site's Prometheus is gone from here on
    done = strata(
        "diagnose", "--config", site.seed_config(), "--alert", SEED / "alert.json",
        "--at", OBSERVED_AT, cwd=site.work,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "VERDICT" in done.stdout
    unseen = done.stdout[done.stdout.index("Could not see") :]
    assert f"metrics: Prometheus at {site.prom_url} did not answer" in unseen
