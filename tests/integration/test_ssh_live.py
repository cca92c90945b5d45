"""tools.ssh.live against real SSH servers on loopback: OpenSSH sshd and asyncssh servers.

sshd (Debian ``openssh-server``) runs real commands and is the jump host; an asyncssh
server (host key generated here) plays the nodes sshd cannot easily imitate: a command
that never answers, megabytes of output, a target behind the jump host. Both log what
reached them, which is how the tests prove a refused command never left the process.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from tools.ssh.live import LiveSsh, SshHostConfig, truncation_marker

SSHD = Path("/usr/sbin/sshd")
USER = getpass.getuser()
PASSPHRASE = "correct-horse-battery-staple-7f3a"
FAKE_DF = "Filesystem Size Used Avail Use% Mounted on\n/dev/vdb 100G 97G 3G 97% /var/lib\n"
DMESG_LINES = 40_000  # about 1.4 MB of kernel log from the fake node
REFUSED = ["rm -rf /", "df -h; reboot", "kubectl delete pod x", "df -h | sh", "uptime `reboot`"]

needs_sshd = pytest.mark.skipif(
    not SSHD.exists(),
    reason="OpenSSH server not installed (/usr/sbin/sshd): apt-get install openssh-server",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def save_key(key: asyncssh.SSHKey, path: Path, passphrase: str | None = None) -> Path:
    key.write_private_key(path, passphrase=passphrase, rounds=16, ignore_few_rounds=True)
    path.chmod(0o600)
    return path


def known_hosts_line(port: int, key: asyncssh.SSHKey) -> str:
    return f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n"


@dataclass(frozen=True)
class Keys:
    """Client keys: one authorised (also as an encrypted copy), one not."""

    dir: Path
    client: Path
    client_encrypted: Path
    stranger: Path
    authorized: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("ssh-keys")
    client = asyncssh.generate_private_key("ssh-ed25519")
    authorized = d / "authorized_keys"
    authorized.write_text(client.export_public_key().decode())
    return Keys(
        dir=d,
        client=save_key(client, d / "id_client"),
        client_encrypted=save_key(client, d / "id_client_enc", PASSPHRASE),
        stranger=save_key(asyncssh.generate_private_key("ssh-ed25519"), d / "id_stranger"),
        authorized=authorized,
    )


@dataclass(frozen=True)
class Sshd:
    """A running OpenSSH server and what it logged."""

    port: int
    known_hosts: Path
    log: Path

    def count(self, needle: str) -> int:
        return self.log.read_text(errors="replace").count(needle)

    def wait_for(self, needle: str, at_least: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while (n := self.count(needle)) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return n


@pytest.fixture(scope="module")
def sshd(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.exists():
        pytest.skip("OpenSSH server not installed (/usr/sbin/sshd): apt-get install openssh-server")
    d = tmp_path_factory.mktemp("sshd")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege-separation directory sshd insists on
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    port = free_port()
    cfg = d / "sshd_config"
    cfg.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {save_key(host_key, d / 'host_ed25519')}\n"
        f"AuthorizedKeysFile {keys.authorized}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {d / 'sshd.pid'}\nLogLevel VERBOSE\nAllowTcpForwarding yes\n"
    )
    known = d / "known_hosts"
    known.write_text(known_hosts_line(port, host_key))
    log = d / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(cfg)], stdout=out, stderr=out)
    server = Sshd(port, known, log)
    try:
        if not server.wait_for("Server listening on 127.0.0.1", 1):
            pytest.fail(f"sshd did not start: {log.read_text()}")
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=5)


class FakeNode:
    """What an asyncssh test server saw, and how it answers each command."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.connections = 0
        self.open: list[asyncssh.SSHServerConnection] = []
        self.release = asyncio.Event()

    async def handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        self.commands.append(command)
        status = 0
        try:
            if command == "uptime":
                await self.release.wait()  # never answers while the test runs
            elif command == "cat /proc/meminfo":
                for _ in range(200):  # ~13 MB
                    process.stdout.write("x" * 65_535 + "\n")
                    await process.stdout.drain()
            elif command == "dmesg -T":
                lines = (
                    f"[Sat Dec 14 03:00:00 2024] kernel: event {i}\n" for i in range(DMESG_LINES)
                )
                process.stdout.write("".join(lines))
                await process.stdout.drain()
            elif command == "df -h":
                process.stdout.write(FAKE_DF)
            else:
                process.stderr.write(f"{command}: not found\n")
                status = 127
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            return  # the client stopped reading
        process.exit(status)


@dataclass
class Fake:
    node: FakeNode
    port: int
    known_hosts: Path
    servers: list[asyncssh.SSHAcceptor] = field(default_factory=list)


@pytest.fixture
async def fake(keys: Keys, tmp_path: Path) -> AsyncIterator[Fake]:
    node = FakeNode()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            node.connections += 1
            node.open.append(conn)

    server = await asyncssh.create_server(
        Server,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=str(keys.authorized),
        process_factory=node.handle,
    )
    port = server.get_port()
    known = tmp_path / "fake_known_hosts"
    known.write_text(known_hosts_line(port, host_key))
    yield Fake(node, port, known)
    node.release.set()
    server.close()
    await server.wait_closed()


def host(name: str, port: int, known_hosts: Path, key: Path, **extra: object) -> SshHostConfig:
    return SshHostConfig.model_validate(
        {"name": name, "host": "127.0.0.1", "port": port, "username": USER,
         "client_keys": [key], "known_hosts": known_hosts, **extra}
    )  # fmt: skip


# --- OpenSSH sshd --------------------------------------------------------------------


@pytest.mark.integration
@needs_sshd
async def test_sshd_runs_real_commands_on_one_shared_connection(sshd: Sshd, keys: Keys) -> None:
    accepted = sshd.count("Accepted publickey")
    async with LiveSsh([host("node-1", sshd.port, sshd.known_hosts, keys.client)]) as ssh:
        df, up, free, load = await asyncio.gather(
            ssh.run("node-1", "df -h"),
            ssh.run("node-1", "uptime"),
            ssh.run("node-1", "free -m"),
            ssh.run("node-1", "cat /proc/loadavg"),
        )
    for result in (df, up, free, load):
        assert (result.status, result.exit_status, result.reason) == ("ok", 0, ""), result
        assert result.host == "node-1" and result.ts is not None
    assert df.stdout.startswith("Filesystem") and "Use%" in df.stdout
    assert "load average" in up.stdout
    assert free.stdout.splitlines()[1].startswith("Mem:")
    assert len(load.stdout.split()) == 5
    assert (
        sshd.wait_for("Accepted publickey", accepted + 1) == accepted + 1
    )  # one login, four sessions


@pytest.mark.integration
@needs_sshd
async def test_sshd_refused_commands_never_reach_the_server(sshd: Sshd, keys: Keys) -> None:
    connections, sessions = sshd.count("Connection from"), sshd.count("Starting session")
    async with LiveSsh([host("node-1", sshd.port, sshd.known_hosts, keys.client)]) as ssh:
        for command in REFUSED:
            result = await ssh.run("node-1", command)
            assert result.status == "error" and result.reason.startswith("refused: "), result
        await asyncio.sleep(0.3)
        assert sshd.count("Connection from") == connections  # not even a connection
        assert (await ssh.run("node-1", "uptime")).status == "ok"
        assert sshd.wait_for("Starting session", sessions + 1) == sessions + 1
        for command in REFUSED:  # now with an open connection: still no session
            assert (await ssh.run("node-1", command)).reason.startswith("refused: ")
    await asyncio.sleep(0.3)
    assert sshd.count("Starting session") == sessions + 1


@pytest.mark.integration
@needs_sshd
@pytest.mark.parametrize("known", ["empty", "changed", "missing"])
async def test_sshd_unverified_host_key_is_an_error(
    sshd: Sshd, keys: Keys, tmp_path: Path, known: str
) -> None:
    path = tmp_path / "known_hosts"
    if known == "empty":
        path.write_text("")
    elif known == "changed":
        path.write_text(known_hosts_line(sshd.port, asyncssh.generate_private_key("ssh-ed25519")))
    async with LiveSsh([host("node-1", sshd.port, path, keys.client)]) as ssh:
        result = await ssh.run("node-1", "uptime")
    assert result.status == "error" and result.stdout == ""
    expected = "does not exist" if known == "missing" else "not verified against"
    assert expected in result.reason and str(path) in result.reason


@pytest.mark.integration
@needs_sshd
async def test_sshd_wrong_client_key_is_an_auth_error(sshd: Sshd, keys: Keys) -> None:
    async with LiveSsh([host("node-1", sshd.port, sshd.known_hosts, keys.stranger)]) as ssh:
        result = await ssh.run("node-1", "uptime")
    assert result.status == "error"
    assert result.reason.startswith(f"authentication failed for {USER}@127.0.0.1:{sshd.port}")


@pytest.mark.integration
@needs_sshd
async def test_sshd_output_over_the_cap_is_cut_and_said_so(sshd: Sshd, keys: Keys) -> None:
    accepted = sshd.count("Accepted publickey")
    cfg = host("node-1", sshd.port, sshd.known_hosts, keys.client)
    async with LiveSsh([cfg], max_output_bytes=512) as ssh:
        cut = await ssh.run("node-1", "cat /proc/cpuinfo")
        after = await ssh.run("node-1", "uptime")  # the connection survives the cut
    marker = truncation_marker(512)
    assert cut.status == "ok" and cut.stdout.endswith(f"\n{marker}\n")
    assert len(cut.stdout.encode()) == 512 + len(marker) + 2
    assert cut.stdout.startswith("processor")
    assert cut.reason == "stdout truncated at 512 bytes (output cap)"
    assert after.status == "ok" and after.reason == "" and "load average" in after.stdout
    assert sshd.wait_for("Accepted publickey", accepted + 1) == accepted + 1


@pytest.mark.integration
async def test_closed_port_is_unavailable(keys: Keys, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    (tmp_path / "kh").write_text("")
    async with LiveSsh([host("node-1", port, tmp_path / "kh", keys.client)]) as ssh:
        result = await ssh.run("node-1", "uptime")
    assert result.status == "unavailable"
    assert result.reason.startswith(f"cannot connect to {USER}@127.0.0.1:{port}")


# --- asyncssh server -------------------------------------------------------------------


@pytest.mark.integration
async def test_refused_commands_never_reach_the_asyncssh_server(fake: Fake, keys: Keys) -> None:
    async with LiveSsh([host("node-2", fake.port, fake.known_hosts, keys.client)]) as ssh:
        for command in REFUSED:
            assert (await ssh.run("node-2", command)).reason.startswith("refused: ")
        assert fake.node.connections == 0
        assert (await ssh.run("node-2", "df -h")).stdout == FAKE_DF
        for command in REFUSED:
            assert (await ssh.run("node-2", command)).reason.startswith("refused: ")
    assert fake.node.commands == ["df -h"]


@pytest.mark.integration
async def test_a_command_that_never_answers_times_out(fake: Fake, keys: Keys) -> None:
    cfg = host("node-2", fake.port, fake.known_hosts, keys.client)
    async with LiveSsh([cfg], command_timeout=0.5) as ssh:
        started = time.monotonic()
        result = await ssh.run("node-2", "uptime")
        elapsed = time.monotonic() - started
        after = await ssh.run("node-2", "df -h")
    assert (result.status, result.reason) == ("error", "timed out after 0.5s")
    assert 0.5 <= elapsed < 3
    assert after.status == "ok" and after.stdout == FAKE_DF
    assert fake.node.connections == 1


@pytest.mark.integration
async def test_megabytes_of_output_stop_at_the_cap(fake: Fake, keys: Keys) -> None:
    cap = 64 * 1024
    cfg = host("node-2", fake.port, fake.known_hosts, keys.client)
    async with LiveSsh([cfg], max_output_bytes=cap) as ssh:
        started = time.monotonic()
        result = await ssh.run("node-2", "cat /proc/meminfo")
        elapsed = time.monotonic() - started
        after = await ssh.run("node-2", "df -h")
    assert result.status == "ok" and result.exit_status is None  # we closed it
    assert result.stdout.endswith(truncation_marker(cap) + "\n")
    assert len(result.stdout) == cap + len(truncation_marker(cap)) + 2
    assert result.reason == f"stdout truncated at {cap} bytes (output cap)"
    assert elapsed < 3
    assert after.stdout == FAKE_DF


@pytest.mark.integration
async def test_tail_runs_client_side_over_output_larger_than_the_cap(
    fake: Fake, keys: Keys
) -> None:
    cfg = host("node-2", fake.port, fake.known_hosts, keys.client)
    async with LiveSsh([cfg], max_output_bytes=64 * 1024) as ssh:
        tail = await ssh.run("node-2", "dmesg -T | tail -n 3")
        head = await ssh.run("node-2", "dmesg -T | head -n 2")
    last = DMESG_LINES - 1
    assert tail.status == "ok" and tail.exit_status == 0 and tail.reason == ""
    assert tail.stdout.splitlines() == [
        f"[Sat Dec 14 03:00:00 2024] kernel: event {i}" for i in (last - 2, last - 1, last)
    ]
    assert tail.command == "dmesg -T | tail -n 3"
    assert head.stdout.splitlines() == [
        "[Sat Dec 14 03:00:00 2024] kernel: event 0",
        "[Sat Dec 14 03:00:00 2024] kernel: event 1",
    ]
    assert fake.node.commands == ["dmesg -T", "dmesg -T"]  # the pipeline never left


@pytest.mark.integration
async def test_a_connection_the_server_closed_is_reopened(fake: Fake, keys: Keys) -> None:
    async with LiveSsh([host("node-2", fake.port, fake.known_hosts, keys.client)]) as ssh:
        first = await ssh.run("node-2", "df -h")
        for conn in fake.node.open:
            conn.close()
            await conn.wait_closed()
        second = await ssh.run("node-2", "df -h")
    assert first.stdout == second.stdout == FAKE_DF
    assert fake.node.connections == 2


@pytest.mark.integration
async def test_nonzero_exit_is_ok_with_its_status_and_stderr(fake: Fake, keys: Keys) -> None:
    async with LiveSsh([host("node-2", fake.port, fake.known_hosts, keys.client)]) as ssh:
        result = await ssh.run("node-2", "ss -s")
    assert (result.status, result.exit_status) == ("ok", 127)
    assert result.stderr == "ss -s: not found\n"


@pytest.mark.integration
async def test_passphrase_unlocks_the_key_and_is_never_shown(
    fake: Fake, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = host("node-2", fake.port, fake.known_hosts, keys.client_encrypted, passphrase=PASSPHRASE)
    bad = host(
        "node-3",
        fake.port,
        fake.known_hosts,
        keys.client_encrypted,
        passphrase="nope-" + PASSPHRASE[::-1],
    )
    none = host("node-4", fake.port, fake.known_hosts, keys.client_encrypted)
    async with LiveSsh([good, bad, none]) as ssh:
        ok, wrong, missing = [await ssh.run(n, "df -h") for n in ("node-2", "node-3", "node-4")]
    assert ok.status == "ok" and ok.stdout == FAKE_DF
    for result in (wrong, missing):
        assert result.status == "error"
        assert result.reason.startswith(f"cannot load the client key for {USER}@127.0.0.1")
    shown = " ".join(
        [
            caplog.text,
            repr(good),
            str(good),
            good.model_dump_json(),
            repr(bad),
            bad.model_dump_json(),
        ]
        + [r.model_dump_json() for r in (ok, wrong, missing)]
    )
    assert PASSPHRASE not in shown and PASSPHRASE[::-1] not in shown


@pytest.mark.integration
@needs_sshd
async def test_jump_host_tunnels_to_the_target(sshd: Sshd, fake: Fake, keys: Keys) -> None:
    accepted = sshd.count("Accepted publickey")
    bastion = host("bastion", sshd.port, sshd.known_hosts, keys.client)
    target = host("node-2", fake.port, fake.known_hosts, keys.client, jump="bastion")
    async with LiveSsh([bastion, target]) as ssh:
        result = await ssh.run("node-2", "df -h")
        again = await ssh.run("node-2", "df -h")
    assert result.status == "ok" and result.stdout == FAKE_DF and again.stdout == FAKE_DF
    assert fake.node.connections == 1
    assert sshd.wait_for("Accepted publickey", accepted + 1) == accepted + 1  # via the bastion

    locked_out = host("bastion", sshd.port, sshd.known_hosts, keys.stranger)
    async with LiveSsh([locked_out, target]) as ssh:
        result = await ssh.run("node-2", "df -h")
    assert result.status == "error"
    assert result.reason.startswith("jump host bastion: authentication failed")
    assert fake.node.connections == 1  # the target was never reached


@pytest.mark.integration
@needs_sshd
async def test_jump_host_verifies_the_target_host_key(
    sshd: Sshd, fake: Fake, keys: Keys, tmp_path: Path
) -> None:
    (tmp_path / "kh").write_text(
        known_hosts_line(fake.port, asyncssh.generate_private_key("ssh-ed25519"))
    )
    bastion = host("bastion", sshd.port, sshd.known_hosts, keys.client)
    target = host("node-2", fake.port, tmp_path / "kh", keys.client, jump="bastion")
    async with LiveSsh([bastion, target]) as ssh:
        result = await ssh.run("node-2", "df -h")
    assert result.status == "error" and "not verified against" in result.reason
    assert fake.node.commands == []


# --- no server needed --------------------------------------------------------------------


async def test_unknown_host_is_unavailable_and_refusal_comes_first(tmp_path: Path) -> None:
    async with LiveSsh([]) as ssh:
        unknown = await ssh.run("node-9", "uptime")
        refused = await ssh.run("node-9", "reboot")
    assert (unknown.status, unknown.reason) == (
        "unavailable",
        "host 'node-9' is not configured for SSH",
    )
    assert refused.status == "error" and refused.reason.startswith("refused: 'reboot' is not on")


def test_config_rejects_bad_jump_hosts(tmp_path: Path) -> None:
    a = host("a", 22, tmp_path / "kh", tmp_path / "k", jump="b")
    b = host("b", 22, tmp_path / "kh", tmp_path / "k", jump="a")
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        LiveSsh([a, b])
    with pytest.raises(ValueError, match="jump host 'b' is not configured"):
        LiveSsh([a])
    with pytest.raises(ValueError, match="duplicate"):
        LiveSsh([b, b.model_copy(update={"jump": None})])
    with pytest.raises(ValueError, match="known_hosts"):
        SshHostConfig.model_validate({"name": "n", "host": "h", "username": "u"})
