"""The lab's daemons: their configuration files and how each one is started.

Every daemon listens on its namespace's own 10.200.0.x address and writes its output to
``logs/`` in the state directory. Configurations are rendered here from the fixed plan
(:mod:`strata.lab.plan`); nothing is read from the host's own configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from strata.lab import plan
from strata.lab.netns import run, start
from strata.lab.state import LabError, LabState

BINARIES: dict[str, str] = {
    "ip": "iproute2",
    "nft": "nftables",
    "snmpd": "snmpd",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "dnsmasq": "dnsmasq-base",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "prometheus-node-exporter": "prometheus-node-exporter",
    "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
    "prometheus-snmp-exporter": "prometheus-snmp-exporter",
    "mkfs.ext4": "e2fsprogs",
    "losetup": "mount",
}
"""Programs the lab runs, with the Debian package that ships each."""


def which(name: str) -> str | None:
    """Where ``name`` is, also in the sbin directories a non-login PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def check_binaries() -> None:
    """Raise :class:`LabError` naming every missing program and its Debian package."""
    missing = [f"{b} (Debian package {pkg})" for b, pkg in BINARIES.items() if not which(b)]
    if missing:
        raise LabError("missing programs: " + "; ".join(missing))


def _bin(name: str) -> str:
    path = which(name)
    if path is None:
        raise LabError(f"{name} is not installed (Debian package {BINARIES.get(name, name)})")
    return path


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _module_file(name: str) -> str:
    return str(Path(__file__).with_name(name))


def not_prefix_regex(prefix: str) -> str:
    """An RE2 regex matching every string that does not start with ``prefix``.

    node exporter's ``mount-points-exclude`` takes RE2, which has no lookahead: a string
    fails to start with ``prefix`` when it ends early or differs at some position.
    """
    esc = [_re_char(c) for c in prefix]
    alts = ["".join(esc[:i]) + ("(?:$|[^" + _class_char(c) + "])") for i, c in enumerate(prefix)]
    return "^(?:" + "|".join(alts) + ")"


def _re_char(c: str) -> str:
    return "\\" + c if c in r".^$*+?()[]{}|\/-" else c


def _class_char(c: str) -> str:
    return "\\" + c if c in r"]\^-" else c


def data_dir(directory: Path, node: plan.Node) -> Path:
    """Where ``node``'s data filesystem is mounted (only it shows in its node exporter)."""
    return directory / "nodes" / node.name / "data"


# --------------------------------------------------------------------------- configs


def prometheus_config() -> dict[str, Any]:
    def blackbox(job: str, module: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "job_name": job,
            "metrics_path": "/probe",
            "params": {"module": [module]},
            "static_configs": [{"targets": [t], "labels": {"instance": i}} for t, i in targets],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {
                    "target_label": "__address__",
                    "replacement": f"{plan.MON_ADDR}:{plan.BLACKBOX_PORT}",
                },
            ],
        }

    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s", "scrape_timeout": "4s"},
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{plan.MON_ADDR}:{plan.ALERTMANAGER_PORT}"]}]}
            ]
        },
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"{plan.MON_ADDR}:{plan.PROMETHEUS_PORT}"]}],
            },
            {
                "job_name": "node-exporter",
                "static_configs": [
                    {
                        "targets": [f"{n.addr}:{plan.NODE_EXPORTER_PORT}"],
                        "labels": {"instance": f"{n.name}:{plan.NODE_EXPORTER_PORT}"},
                    }
                    for n in plan.NODES
                ],
            },
            {
                "job_name": "workload",
                "static_configs": [
                    {
                        "targets": [f"{n.addr}:{plan.WORKLOAD_METRICS_PORT}"],
                        "labels": {"instance": f"{n.name}:{plan.WORKLOAD_METRICS_PORT}"},
                    }
                    for n in plan.NODES
                ],
            },
            blackbox("blackbox-icmp", "icmp", [(n.addr, n.name) for n in plan.NODES]),
            blackbox(
                "blackbox-http",
                "http_2xx",
                [(f"http://{plan.SERVICE_NODE.addr}:{plan.SERVICE_PORT}/", plan.SERVICE_NAME)],
            ),
            blackbox("blackbox-dns", "dns", [(plan.DNS_ADDR, plan.DNS_NAME)]),
            {
                # The switch through snmp_exporter, as a site alerts on its switches.
                "job_name": "snmp-switch",
                "metrics_path": "/snmp",
                "params": {"module": [SNMP_MODULE]},
                "static_configs": [
                    {"targets": [plan.SWITCH_ADDR], "labels": {"instance": plan.SWITCH_NAME}}
                ],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {
                        "target_label": "__address__",
                        "replacement": f"{plan.MON_ADDR}:{plan.SNMP_EXPORTER_PORT}",
                    },
                ],
            },
        ],
    }


SNMP_MODULE = "lab_switch"
"""The snmp_exporter module that reads the switch."""


def snmp_exporter_config() -> dict[str, Any]:
    """snmp_exporter's ``snmp.yml`` (its generator's output format, written by hand for the
    few objects the lab's alert rules need: per-port broadcast frames, discards and
    status, and BRIDGE-MIB topology changes)."""

    def column(name: str, oid: str, kind: str = "counter") -> dict[str, Any]:
        return {
            "name": name,
            "oid": oid,
            "type": kind,
            "indexes": [{"labelname": "ifIndex", "type": "gauge"}],
        }

    columns = [
        column("ifHCInBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.9"),
        column("ifInDiscards", "1.3.6.1.2.1.2.2.1.13"),
        column("ifOutDiscards", "1.3.6.1.2.1.2.2.1.19"),
        column("ifOperStatus", "1.3.6.1.2.1.2.2.1.8", "gauge"),
    ]
    return {
        SNMP_MODULE: {
            "walk": [c["oid"] for c in columns],
            "get": ["1.3.6.1.2.1.17.2.4.0"],
            "metrics": [
                {"name": "dot1dStpTopChanges", "oid": "1.3.6.1.2.1.17.2.4", "type": "counter"},
                *columns,
            ],
            "version": 2,
            "timeout": "3s",
            "retries": 1,
            "auth": {"community": plan.SNMP_COMMUNITY},
        }
    }


def alertmanager_config(token_file: Path | None = None) -> dict[str, Any]:
    """Alertmanager's configuration: every group to ``strata serve``'s webhook, with the
    bearer token in ``token_file`` (serve refuses a non-loopback address without auth)."""
    webhook: dict[str, Any] = {
        "url": f"http://{plan.MON_ADDR}:{plan.SERVE_PORT}/webhook/alertmanager",
        "send_resolved": True,
    }
    if token_file is not None:
        webhook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
        }
    return {
        "route": {
            "receiver": "strata",
            "group_by": ["alertname"],
            "group_wait": "30s",
            "group_interval": "10s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "strata",
                "webhook_configs": [webhook],
            }
        ],
    }


def blackbox_config() -> dict[str, Any]:
    return {
        "modules": {
            "icmp": {"prober": "icmp", "timeout": "1s", "icmp": {"preferred_ip_protocol": "ip4"}},
            "http_2xx": {
                "prober": "http",
                "timeout": "2s",
                "http": {"preferred_ip_protocol": "ip4"},
            },
            "dns": {
                "prober": "dns",
                "timeout": "2s",
                "dns": {
                    "query_name": plan.SERVICE_NAME,
                    "query_type": "A",
                    "transport_protocol": "udp",
                    "preferred_ip_protocol": "ip4",
                    "valid_rcodes": ["NOERROR"],
                },
            },
        }
    }


def sshd_config(directory: Path, node: plan.Node) -> str:
    home = directory / "nodes" / node.name
    return "\n".join(
        [
            f"ListenAddress {node.addr}",
            "Port 22",
            f"HostKey {home / 'ssh_host_ed25519_key'}",
            f"AuthorizedKeysFile {directory / 'ssh' / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            f"PidFile {home / 'sshd.pid'}",
            "",
        ]
    )


def snmpd_config(directory: Path) -> str:
    lines = [
        f"agentAddress udp:{plan.SWITCH_ADDR}:161",
        f"rocommunity {plan.SNMP_COMMUNITY} {plan.SUBNET}",
        f"sysName {plan.SWITCH_NAME}",
    ]
    from strata.lab.switch_agent import COLUMNS

    for column, (oid, _) in COLUMNS.items():
        wrapper = _write(
            directory / "config" / f"switch-{column}.sh",
            "#!/bin/sh\n"
            f"exec {sys.executable} {_module_file('switch_agent.py')} --column {column} "
            f"--bridge {plan.BRIDGE} --table {plan.NFT_TABLE}\n",
            0o755,
        )
        lines.append(f"pass_persist -p 1 {oid} {wrapper}")
    return "\n".join(lines) + "\n"


def nft_ruleset() -> str:
    """The switch's table: per-port broadcast counters, and chains the faults fill."""
    ports = [a.port for a in plan.ATTACHMENTS] + list(plan.LOOP_PORTS)
    counters = "".join(
        f"  counter bc_{p} {{}}\n  counter din_{p} {{}}\n  counter dout_{p} {{}}\n" for p in ports
    )
    counts = "".join(
        f'    iifname "{p}" meta pkttype broadcast counter name "bc_{p}"\n' for p in ports
    )
    # Storm control on the redundant link, as a switch's `storm-control ... pps`.
    counts += "".join(
        f'    iifname "{p}" limit rate over {plan.STORM_PPS}/second burst {plan.STORM_BURST} '
        f'packets counter name "din_{p}" drop\n'
        for p in plan.LOOP_PORTS
    )
    return (
        f"table bridge {plan.NFT_TABLE} {{\n{counters}"
        "  chain ingress {\n    type filter hook prerouting priority -200; policy accept;\n"
        f"{counts}    jump faults_in\n  }}\n"
        "  chain faults_in {\n  }\n"
        "  chain egress {\n    type filter hook forward priority 0; policy accept;\n"
        "    jump faults_out\n  }\n"
        "  chain faults_out {\n  }\n"
        "}\n"
    )  # fmt: skip


def _yaml(path: Path, data: dict[str, Any]) -> Path:
    return _write(path, yaml.safe_dump(data, sort_keys=False))


# --------------------------------------------------------------------------- daemons


def serve_token_path(directory: Path) -> Path:
    """Where the lab keeps the bearer token Alertmanager sends to ``strata serve``."""
    return directory / "ssh" / "serve.token"


def serve_token(directory: Path) -> Path:
    """The bearer token Alertmanager sends to ``strata serve`` (made once, mode 0600)."""
    path = serve_token_path(directory)
    if not path.exists():
        import secrets

        _write(path, secrets.token_urlsafe(24) + "\n", 0o600)
    return path


def start_all(directory: Path, state: LabState) -> None:
    """Write every configuration and start every daemon, recording each PID at once.

    Raises:
        LabError: a configuration could not be written or a daemon could not start.
    """
    cfg = directory / "config"
    logs = directory / "logs"

    def launch(label: str, ns: str, argv: list[str]) -> None:
        state.pids[label] = start(ns, argv, logs / f"{label.replace('/', '-')}.log")
        state.save()

    # SSH: one client key for Strata, one host key per node, a known_hosts pinning them.
    ssh = directory / "ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    key = ssh / "id_ed25519"
    if not key.exists():
        run(
            [
                _bin("ssh-keygen"),
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "strata-lab",
                "-f",
                str(key),
            ]
        )
    _write(ssh / "authorized_keys", (ssh / "id_ed25519.pub").read_text(), 0o600)
    known: list[str] = []
    start_dns(directory, state)  # first: the workloads resolve at once
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    for node in plan.NODES:
        home = directory / "nodes" / node.name
        home.mkdir(parents=True, exist_ok=True)
        (home / "kern.log").touch()  # the kernel-log collector appends to it
        make_data_fs(directory, node)
        hostkey = home / "ssh_host_ed25519_key"
        if not hostkey.exists():
            run([_bin("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
        pub = (home / "ssh_host_ed25519_key.pub").read_text().split()
        known.append(f"{node.addr} {pub[0]} {pub[1]}")
        conf = _write(cfg / f"sshd-{node.name}.conf", sshd_config(directory, node))
        launch(f"{node.name}/sshd", node.ns, [_bin("sshd"), "-D", "-e", "-f", str(conf)])
        launch(
            f"{node.name}/node-exporter",
            node.ns,
            [
                _bin("prometheus-node-exporter"),
                f"--web.listen-address={node.addr}:{plan.NODE_EXPORTER_PORT}",
                "--no-collector.systemd",
                # Only the node's own data filesystem: the lab's nodes share the host's.
                "--collector.filesystem.mount-points-exclude="
                + not_prefix_regex(str(data_dir(directory, node))),
            ],
        )
        argv = [
            sys.executable,
            _module_file("workload.py"),
            "--host",
            node.name,
            "--name",
            plan.SERVICE_NAME,
            "--dns",
            plan.DNS_ADDR,
            "--port",
            str(plan.SERVICE_PORT),
            "--log",
            str(home / "workload.log"),
            "--telemetry",
            f"{plan.MON_ADDR}:{plan.SYSLOG_PORT}",
            "--telemetry-pps",
            str(plan.TELEMETRY_PPS),
            "--metrics",
            f"{node.addr}:{plan.WORKLOAD_METRICS_PORT}",
        ]
        if node == plan.SERVICE_NODE:
            argv += ["--serve", str(plan.SERVICE_PORT)]
        launch(f"{node.name}/workload", node.ns, argv)
    _write(ssh / "known_hosts", "\n".join(known) + "\n")

    snmp_conf = _write(cfg / "snmpd.conf", snmpd_config(directory))
    launch(
        "sw/snmpd",
        plan.SWITCH_NS,
        [
            _bin("snmpd"),
            "-f",
            "-Lo",
            "-C",
            "-c",
            str(snmp_conf),
            "-p",
            str(directory / "snmpd.pid"),
        ],
    )

    _yaml(cfg / "prometheus.yml", prometheus_config())
    rules = resources.files("strata.lab").joinpath("rules.yml").read_text(encoding="utf-8")
    _write(cfg / "rules.yml", rules)
    _yaml(cfg / "alertmanager.yml", alertmanager_config(serve_token(directory)))
    _yaml(cfg / "blackbox.yml", blackbox_config())
    _yaml(cfg / "snmp.yml", snmp_exporter_config())
    launch(
        "mon/log-collector",
        plan.MON_NS,
        [sys.executable, _module_file("workload.py"), "--sink", str(plan.SYSLOG_PORT)],
    )
    if os.access("/dev/kmsg", os.R_OK):
        launch(
            "mon/kernel-log",
            plan.MON_NS,
            [sys.executable, _module_file("workload.py"), "--kernel-log", str(directory)],
        )
    launch(
        "mon/blackbox",
        plan.MON_NS,
        [
            _bin("prometheus-blackbox-exporter"),
            f"--config.file={cfg / 'blackbox.yml'}",
            f"--web.listen-address={plan.MON_ADDR}:{plan.BLACKBOX_PORT}",
        ],
    )
    launch(
        "mon/snmp-exporter",
        plan.MON_NS,
        [
            _bin("prometheus-snmp-exporter"),
            f"--config.file={cfg / 'snmp.yml'}",
            f"--web.listen-address={plan.MON_ADDR}:{plan.SNMP_EXPORTER_PORT}",
        ],
    )
    launch(
        "mon/alertmanager",
        plan.MON_NS,
        [
            _bin("prometheus-alertmanager"),
            f"--config.file={cfg / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data' / 'alertmanager'}",
            f"--web.listen-address={plan.MON_ADDR}:{plan.ALERTMANAGER_PORT}",
            "--cluster.listen-address=",
        ],
    )
    launch(
        "mon/prometheus",
        plan.MON_NS,
        [
            _bin("prometheus"),
            f"--config.file={cfg / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data' / 'prometheus'}",
            f"--web.listen-address={plan.MON_ADDR}:{plan.PROMETHEUS_PORT}",
            "--web.enable-lifecycle",
            "--rules.alert.resend-delay=1s",
        ],
    )


DATA_FS_MB = 64
"""Size of each node's data filesystem (ext4 on a loop device, made at ``up``)."""


def make_data_fs(directory: Path, node: plan.Node) -> bool:
    """Give ``node`` its own small data filesystem, mounted before its node exporter starts
    (the exporter's mount namespace is a copy taken when it starts).

    Returns:
        Whether it was mounted (no loop devices here: the node has a plain directory).
    """
    point = data_dir(directory, node)
    point.mkdir(parents=True, exist_ok=True)
    image = directory / "nodes" / node.name / "disk.img"
    with image.open("wb") as fh:
        fh.truncate(DATA_FS_MB * 2**20)
    made = run([_bin("mkfs.ext4"), "-q", "-F", "-m", "0", "-L", f"data-{node.name}", str(image)],
               check=False)  # fmt: skip
    if made.returncode != 0:
        return False
    return run(["mount", "-o", "loop", str(image), str(point)], check=False).returncode == 0


def start_dns(directory: Path, state: LabState) -> None:
    """Start dnsmasq (the cluster resolver's role) with query logging."""
    log = directory / "nodes" / "dns" / "queries.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        _bin("dnsmasq"),
        "--no-daemon",
        "--conf-file=/dev/null",
        f"--listen-address={plan.DNS_ADDR}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--local=/lab/",
        f"--host-record={plan.SERVICE_NAME},{plan.SERVICE_NODE.addr}",
        *(f"--host-record={n.name}.lab,{n.addr}" for n in plan.NODES),
        "--log-queries=extra",
        f"--log-facility={log}",
        "--user=root",
        "--pid-file=",
        "--cache-size=1000",
    ]
    state.pids["dns/dnsmasq"] = start(plan.DNS_NS, argv, directory / "logs" / "dns-dnsmasq.log")
    state.save()


def strata_toml(directory: Path, ifindex: dict[str, int]) -> str:
    """The lab's ``strata.toml``: its Prometheus, Alertmanager, switch, nodes and topology.

    The addresses only answer inside the lab's namespaces (``ip netns exec stl-mon ...``).
    """
    ssh = directory / "ssh"
    out = [
        "# strata.toml of the fault-injection lab (written by `strata lab up`).",
        "window_minutes = 2",
        "",
        "[model]",
        'spec = "none"',
        "",
        "[prometheus]",
        f'url = "http://{plan.MON_ADDR}:{plan.PROMETHEUS_PORT}"',
        "timeout_s = 10",
        "",
        "[alertmanager]",
        f'url = "http://{plan.MON_ADDR}:{plan.ALERTMANAGER_PORT}"',
        "",
        "[snmp]",
        "polls = 2",
        "interval_s = 5.0",
        "",
        "[[snmp.devices]]",
        f'name = "{plan.SWITCH_NAME}"',
        f'host = "{plan.SWITCH_ADDR}"',
        'version = "v2c"',
        f'community = "{plan.SNMP_COMMUNITY}"',
        "timeout_s = 2.0",
        "retries = 1",
        "",
        "[ssh]",
        "command_timeout_s = 10.0",
    ]
    for n in plan.NODES:
        out += [
            "",
            "[[ssh.hosts]]",
            f'name = "{n.name}"',
            f'host = "{n.addr}"',
            'username = "root"',
            f'client_keys = ["{ssh / "id_ed25519"}"]',
            f'known_hosts = "{ssh / "known_hosts"}"',
        ]
    from strata.lab.logs import lab_log_files

    # The lab has no Loki: its log files, labelled as a log shipper would.
    for f in lab_log_files(directory):
        labels = ", ".join(f"{k} = {json.dumps(v)}" for k, v in f.labels.items())
        out += ["", "[[log_files]]", f"path = {json.dumps(str(f.path))}",
                f"labels = {{ {labels} }}", f'timestamp = "{f.timestamp}"']  # fmt: skip
    out += ["", "[[topology.switches]]", f'name = "{plan.SWITCH_NAME}"',
            f'address = "{plan.SWITCH_ADDR}"']  # fmt: skip
    for n in plan.NODES:
        out += [
            "",
            "[[topology.nodes]]",
            f'name = "{n.name}"',
            f'address = "{n.addr}"',
            f'switch = "{plan.SWITCH_NAME}"',
            f"port = {ifindex.get(n.port, 0)}",
        ]
    out += ["", "[[topology.services]]", f'name = "{plan.DNS_NAME}"', 'kind = "dns"']
    for n in plan.NODES:
        out += [
            "",
            "[[topology.pods]]",
            f'name = "workload-{n.name}"',
            f'ip = "{n.addr}"',
            f'node = "{n.name}"',
        ]
    return "\n".join(out) + "\n"
