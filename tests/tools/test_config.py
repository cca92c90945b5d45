"""tools.config (strata.toml: search path, secrets from env/files, validation) and the parts
of tools.live that need no live device: source checks against loopback HTTP servers,
and which sources a diagnosis opens, with the notes it leaves.

The Loki check runs against a loopback HTTP server that answers ``/loki/api/v1/labels`` in
Loki's documented format (no Loki can run here); Prometheus checks against a closed port.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools.config import ConfigError, load_config, parse_config, search_path
from tools.live import check_sources, open_live_sources
from tools.ssh.allowlist import allowed_programs
from tools.topology import Topology

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def example() -> str:
    """The complete example ``strata.toml`` in docs/configuration.md."""
    match = re.search(r"## A complete example\n\n```toml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, "docs/configuration.md lost its example"
    return match.group(1)


def test_the_documented_example_is_valid_and_every_secret_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "LOKI_TOKEN": "loki-token-77a1",
        "SW1_COMMUNITY": "sw1-community-3b",
        "SW2_AUTH_KEY": "sw2-auth-key-9c",
        "STRATA_KEY_PASSPHRASE": "key-phrase-0d",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    files = {
        "/run/secrets/prometheus-password": "prom-pw-41",
        "/run/secrets/sw2-priv": "sw2-priv-k",
    }
    text = example()
    for path, value in files.items():
        local = tmp_path / Path(path).name
        local.write_text(value + "\nsecond line ignored\n")
        text = text.replace(path, str(local))
    config = parse_config(text)
    assert config.prometheus is not None and config.prometheus.auth.username == "strata"
    assert config.loki is not None and config.loki.org_id == "homelab"
    assert [d.name for d in config.snmp.devices] == ["sw1", "sw2"]
    assert config.snmp.devices[1].security == "v3 authPriv SHA/AES"
    assert [h.name for h in config.ssh.hosts] == ["bastion", "node-1"]
    assert config.ssh.hosts[1].jump == "bastion"
    assert config.ssh.hosts[1].known_hosts == Path.home() / ".ssh" / "known_hosts"  # ~ expanded
    assert config.topology.nodes[0].switch == "sw1" and config.topology.nodes[0].port == 3
    assert config.model.spec == "auto" and config.window_minutes == 30
    assert sorted(config.secrets()) == sorted([*secrets.values(), *files.values()])
    shown = repr(config) + str(config) + config.model_dump_json()
    assert not [s for s in config.secrets() if s in shown]


def test_the_documented_allow_list_is_the_code_s() -> None:
    text = DOC.read_text()
    start = text.index("<!-- allow-list:")
    block = re.sub(r"\([^)]*\)", "", text[start : text.index("\n\n", start)])  # (options)
    documented = sorted(set(re.findall(r"`([a-z]+(?: [a-z0-9-]+)?)`", block)))
    assert documented == allowed_programs()


def test_secrets_from_env_file_and_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_PW", "from-env-123")
    (tmp_path / "token").write_text("  from-file-456  \n")
    config = parse_config(
        '[prometheus]\nurl = "http://u:in-url-pw@prom:9090"\n'
        '[prometheus.auth]\nusername = "s"\npassword_env = "PROM_PW"\n'
        f'[alertmanager]\nurl = "http://am"\n[alertmanager.auth]\nbearer_token_file = "{tmp_path / "token"}"\n'
        '[[snmp.devices]]\nname = "sw"\nhost = "h"\ncommunity = "inline-789"\n'
    )
    assert sorted(config.secrets()) == ["from-env-123", "from-file-456", "in-url-pw", "inline-789"]
    assert config.alertmanager is not None
    assert config.alertmanager.auth.headers() == {"Authorization": "Bearer from-file-456"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[snmp.devices]]\nname = "sw"\nhost = "h"\ncommunity = "a"\ncommunity_env = "B"\n',
            "snmp.devices[0].community_env: give community once",
        ),
        (
            '[[snmp.devices]]\nname = "sw"\nhost = "h"\ncommunity_env = "STRATA_NOT_SET_X"\n',
            "environment variable STRATA_NOT_SET_X is not set",
        ),
        (
            '[[ssh.hosts]]\nname = "n"\nhost = "h"\nusername = "u"\nknown_hosts = "k"\n'
            'passphrase_file = "/nonexistent/strata/pp"\n',
            "cannot read /nonexistent/strata/pp",
        ),
        ('[prometheus]\nulr = "http://x"\n', "prometheus.ulr: Extra inputs are not permitted"),
        ("[prometheus\n", "<config>: "),
        (
            '[[snmp.devices]]\nname = "sw"\nhost = "h"\nversion = "v3"\nuser = "u"\n'
            'auth_key = "short-7"\n',
            "auth_key is shorter than 8 characters",
        ),
    ],
)
def test_invalid_configurations_name_the_key_never_the_secret(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
    for secret in ("short-7",):
        assert secret not in str(caught.value)


def test_search_path_and_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATA_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert search_path() == [
        Path("strata.toml"),
        tmp_path / "xdg" / "strata" / "strata.toml",
        Path("/etc/strata/strata.toml"),
    ]
    if not Path("/etc/strata/strata.toml").exists():
        with pytest.raises(ConfigError, match=r"no configuration file found .*xdg"):
            load_config()
    (tmp_path / "xdg" / "strata").mkdir(parents=True)
    (tmp_path / "xdg" / "strata" / "strata.toml").write_text("window_minutes = 45\n")
    assert load_config().window_minutes == 45
    (tmp_path / "strata.toml").write_text("window_minutes = 20\n")
    assert load_config().window_minutes == 20  # the working directory comes first
    (tmp_path / "env.toml").write_text("window_minutes = 10\n")
    monkeypatch.setenv("STRATA_CONFIG", str(tmp_path / "env.toml"))
    assert search_path()[0] == tmp_path / "env.toml"
    assert load_config().window_minutes == 10
    explicit = load_config(tmp_path / "strata.toml")
    assert explicit.window_minutes == 20 and explicit.path == tmp_path / "strata.toml"
    with pytest.raises(ConfigError, match=r"missing\.toml: no such configuration file"):
        load_config(tmp_path / "missing.toml")


class _Loki(http.server.BaseHTTPRequestHandler):
    """``/loki/api/v1/labels`` as Loki documents it, behind basic auth, for tenant ``lab``."""

    def do_GET(self) -> None:
        good = "Basic " + base64.b64encode(b"strata:loki-pw-1").decode()
        if self.headers.get("Authorization") != good:
            self._send(401, b"no org id\n", "text/plain")
        elif (
            not self.path.startswith("/loki/api/v1/labels?")
            or self.headers.get("X-Scope-OrgID") != "lab"
        ):
            self._send(404, b"404 page not found\n", "text/plain")
        else:
            body = {"status": "success", "data": ["app", "namespace", "pod"]}
            self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loki() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Loki)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def loki_config(url: str, password: str) -> str:
    return (
        f'[loki]\nurl = "{url}"\norg_id = "lab"\ntimeout_s = 2\n'
        f'[loki.auth]\nusername = "strata"\npassword = "{password}"\n'
    )


async def test_checks_report_ok_and_each_failure(loki: str, silent: int) -> None:
    assert await check_sources(parse_config("")) == []
    config = parse_config(
        loki_config(loki, "loki-pw-1")
        + f'[prometheus]\nurl = "http://127.0.0.1:{closed_port()}"\ntimeout_s = 2\n'
        + f'[alertmanager]\nurl = "http://127.0.0.1:{silent}"\ntimeout_s = 30\n'
    )
    started = datetime.now(UTC)
    rows = {r.source: r for r in await check_sources(config, timeout_s=1.0)}
    assert datetime.now(UTC) - started < timedelta(seconds=5)  # concurrently, bounded
    assert rows["loki"].ok and rows["loki"].detail == "3 label names in the last 5 min"
    assert not rows["prometheus"].ok and "did not answer" in rows["prometheus"].detail
    assert not rows["alertmanager"].ok and rows["alertmanager"].detail == "no answer within 1 s"
    assert rows["alertmanager"].latency_ms >= 900

    wrong = parse_config(loki_config(loki, "not-the-pw-2"))
    [row] = await check_sources(wrong, timeout_s=2.0)
    assert not row.ok and "rejected the credentials (HTTP 401)" in row.detail
    assert "not-the-pw-2" not in row.detail and row.target == loki


async def test_a_diagnosis_opens_what_answers_and_notes_the_rest(loki: str) -> None:
    async with open_live_sources(parse_config("")) as sources:
        assert sources.missing() == ["metrics", "logs", "snmp", "ssh"]
        assert [n.split(":")[0] for n in sources.notes] == ["metrics", "logs", "snmp", "ssh"]
    port = closed_port()
    config = parse_config(
        loki_config(loki, "loki-pw-1")
        + f'[prometheus]\nurl = "http://127.0.0.1:{port}"\n'
        + '[[snmp.devices]]\nname = "sw1"\nhost = "127.0.0.1"\nport = 9\ncommunity = "c0mm"\ntimeout_s = 0.2\nretries = 0\n'
        + '[[ssh.hosts]]\nname = "n1"\nhost = "127.0.0.1"\nusername = "u"\nknown_hosts = "/k"\n'
    )
    past = datetime.now(UTC) - timedelta(hours=3)
    async with open_live_sources(config, past) as sources:
        assert sources.logs is not None
        assert sources.metrics is None and sources.snmp is None and sources.ssh is None
        notes = "\n".join(sources.notes)
        assert f"metrics: Prometheus at http://127.0.0.1:{port} did not answer" in notes
        assert "snmp: left out: it shows the present" in notes
        assert "ssh: left out: it shows the present" in notes
    async with open_live_sources(config, preflight=False) as sources:
        # Not checked first: Prometheus is opened as configured (its queries will fail).
        assert sources.metrics is not None and sources.ssh is not None
        assert sources.snmp is not None  # opened; the failed polls are notes
        assert any(n.startswith("snmp: sw1: ") for n in sources.notes)


def test_topology_from_toml() -> None:
    config = parse_config(
        '[[topology.nodes]]\nname = "node-1"\nswitch = "sw1"\nport = 3\n'
        '[[topology.services]]\nname = "coredns"\nkind = "dns"\n'
    )
    assert isinstance(config.topology, Topology)
    assert config.topology.services_of_kind("dns")[0].name == "coredns"
