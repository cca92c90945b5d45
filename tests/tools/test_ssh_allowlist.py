"""tools.ssh.allowlist: what a live SSH session may run, and why everything else is refused."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tools.errors import ToolError
from tools.ssh.allowlist import CommandRefused, allowed_programs, parse_command

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    ("command", "remote"),
    [
        ("df -h", "df -h"),
        ("df -i /var/lib", "df -i /var/lib"),
        ("df -hT /var/lib/containerd /", "df -hT /var/lib/containerd /"),
        ("free -m", "free -m"),
        ("uptime", "uptime"),
        ("cat /proc/loadavg", "cat /proc/loadavg"),
        (
            "cat /sys/class/net/eth0/statistics/rx_dropped",
            "cat /sys/class/net/eth0/statistics/rx_dropped",
        ),
        ("dmesg -T", "dmesg -T"),
        ("dmesg -T --level err,warn", "dmesg -T --level err,warn"),
        (
            "journalctl -u kubelet.service --since '2024-12-14 03:00' -n 200 -p warning --no-pager",
            "journalctl -u kubelet.service --since '2024-12-14 03:00' -n 200 -p warning --no-pager",
        ),
        ("journalctl -u etcd --since=-30m", "journalctl -u etcd --since -30m --no-pager"),
        ("journalctl -k --since '1 hour ago'", "journalctl -k --since '1 hour ago' --no-pager"),
        ("ss -s", "ss -s"),
        ("ip -s link", "ip -s link"),
        ("ip -s -s link show dev enp3s0", "ip -s -s link show dev enp3s0"),
        ("ip -br addr", "ip -br addr"),
        ("conntrack -S", "conntrack -S"),
        (
            "openssl x509 -enddate -noout -in /etc/kubernetes/pki/apiserver.crt",
            "openssl x509 -enddate -noout -in /etc/kubernetes/pki/apiserver.crt",
        ),
        ("crictl ps -a", "crictl ps -a"),
        ("crictl pods --namespace kube-system", "crictl pods --namespace kube-system"),
        ("crictl logs --tail 100 3f2a9c1b", "crictl logs --tail 100 3f2a9c1b"),
        ("kubectl get pods -A -o wide", "kubectl get pods -A -o wide"),
        (
            "kubectl get nodes,pods -l app=web,tier!=db",
            "kubectl get nodes,pods -l 'app=web,tier!=db'",
        ),
        ("kubectl describe node/node-2", "kubectl describe node/node-2"),
        (
            "kubectl logs coredns-5d78c9869d-abcde -n kube-system --tail=50 --previous",
            "kubectl logs coredns-5d78c9869d-abcde -n kube-system --tail 50 --previous",
        ),
        ("kubectl top nodes", "kubectl top nodes"),
    ],
)
def test_allowed_commands_are_rebuilt_from_their_argv(command: str, remote: str) -> None:
    allowed = parse_command(command)
    assert allowed.remote == remote
    assert shlex.split(allowed.remote) == list(allowed.argv)
    assert allowed.keep == "all"


@pytest.mark.parametrize(
    ("command", "keep", "lines", "remote"),
    [
        ("dmesg -T | tail -n 50", "tail", 50, "dmesg -T"),
        ("dmesg -T|tail -n50", "tail", 50, "dmesg -T"),
        ("dmesg | tail", "tail", 10, "dmesg"),
        ("ss -s | head -5", "head", 5, "ss -s"),
        (
            "journalctl -k --since today | tail -n 20",
            "tail",
            20,
            "journalctl -k --since today --no-pager",
        ),
    ],
)
def test_a_trailing_head_or_tail_is_done_client_side(
    command: str, keep: str, lines: int, remote: str
) -> None:
    allowed = parse_command(command)
    assert (allowed.keep, allowed.lines, allowed.remote) == (keep, lines, remote)


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("rm -rf /", "'rm' is not on the read-only allow-list"),
        ("reboot", "'reboot' is not on the read-only allow-list"),
        ("/bin/df -h", "'/bin/df' is not on the read-only allow-list"),
        ("bash -c 'df -h'", "'bash' is not on"),
        ("df -h; reboot", "shell metacharacter ';'"),
        ("df -h && reboot", "shell metacharacter '&'"),
        ("df -h | sh", "shell metacharacter '|'"),
        ("dmesg | tail -n 5 | sh", "shell metacharacter '|'"),
        ("df -h > /etc/motd", "shell metacharacter '>'"),
        ("cat < /etc/shadow", "shell metacharacter '<'"),
        ("df `reboot`", "shell metacharacter '`'"),
        ("df $(reboot)", "shell metacharacter '$'"),
        ("df ${HOME}", "shell metacharacter '$'"),
        ("df /var/*", "shell metacharacter '*'"),
        ("df -h\nreboot", "control characters"),
        ("df -h | tail -n 0", "positive line count"),
        ("df 'unbalanced", "cannot parse"),
        ("", "empty command"),
        ("df -h /var/../etc", "'..' is not allowed in paths"),
        ("df relative/path", "not a valid absolute path"),
        ("cat /etc/shadow", "not a valid file on the read allow-list"),
        ("cat /proc/1/environ", "not a valid file on the read allow-list"),
        ("cat", "needs at least 1"),
        ("dmesg -c", "option -c is not allowed"),
        ("dmesg -C", "option -C is not allowed"),
        ("journalctl -u kubelet --since today -f", "option -f is not allowed"),
        ("journalctl --since today", "-u or --unit or -k or --dmesg is required"),
        ("journalctl -u kubelet", "--since is required"),
        ("journalctl -u 'kubelet; reboot' --since today", "shell metacharacter ';'"),
        ("journalctl -u -kubelet --since today", "not a valid systemd unit name"),
        ("journalctl -u kubelet --since 'last tuesday'", "not a valid journalctl time"),
        ("journalctl -u kubelet --since today -n many", "not a valid number"),
        ("ss -K", "option -K is not allowed"),
        ("hostname evil", "unexpected argument 'evil'"),
        ("free -s 1", "option -s is not allowed"),
        ("ip link set eth0 down", "only 'show' is allowed, not 'set'"),
        ("ip netns exec x df", "expected one of"),
        ("ip link show dev", "'dev' needs an interface name"),
        ("conntrack -F", "option -F is not allowed"),
        ("conntrack -D -s 10.0.0.1", "option -D is not allowed"),
        ("openssl x509 -in /etc/ssl/a.pem -noout -out /tmp/x", "option -out is not allowed"),
        ("openssl x509 -in /etc/ssl/a.pem", "-noout is required"),
        ("openssl x509 -noout -enddate -in /dev/zero", "not a valid certificate path"),
        ("openssl genrsa 4096", "'openssl genrsa' is not allowed"),
        ("crictl rm abc", "'crictl rm' is not allowed"),
        ("crictl exec -it abc sh", "'crictl exec' is not allowed"),
        ("crictl logs abc", "--tail is required"),
        ("crictl logs -f --tail 5 abc", "option -f is not allowed"),
        ("kubectl delete pod x", "'kubectl delete' is not allowed"),
        ("kubectl exec -it web-0 -- sh", "'kubectl exec' is not allowed"),
        ("kubectl edit deploy web", "'kubectl edit' is not allowed"),
        ("kubectl apply -f x.yaml", "'kubectl apply' is not allowed"),
        ("kubectl patch node n -p x", "'kubectl patch' is not allowed"),
        ("kubectl port-forward svc/web 8080", "'kubectl port-forward' is not allowed"),
        ("kubectl cp web-0:/etc/passwd /tmp/p", "'kubectl cp' is not allowed"),
        ("kubectl -n kube-system get pods", "'kubectl -n' is not allowed"),
        ("kubectl get secrets -A -o yaml", "reading Kubernetes Secrets is not allowed"),
        ("kubectl get pods,secret/db-creds", "reading Kubernetes Secrets is not allowed"),
        ("kubectl get pods -w", "option -w is not allowed"),
        ("kubectl get pods --kubeconfig /root/.kube/other", "option --kubeconfig is not allowed"),
        ("kubectl get pods --as system:admin", "option --as is not allowed"),
        ("kubectl get pods -o jsonpath=x", "not a valid kubectl output format"),
        ("kubectl logs web-0", "--tail is required"),
        ("kubectl logs web-0 -f --tail 5", "option -f is not allowed"),
    ],
)
def test_everything_else_is_refused_with_the_reason(command: str, why: str) -> None:
    with pytest.raises(CommandRefused) as caught:
        parse_command(command)
    assert why in str(caught.value)


def test_refusal_is_a_tool_error_with_a_title() -> None:
    with pytest.raises(ToolError) as caught:
        parse_command("shutdown -h now")
    assert isinstance(caught.value, CommandRefused)
    assert caught.value.title == "Command refused"
    assert "allowed: cat, conntrack, crictl logs" in caught.value.message


def test_quoted_arguments_reach_the_host_as_one_word() -> None:
    allowed = parse_command('journalctl -u kubelet --since "2024-12-14 03:00:00"')
    assert allowed.argv[-2] == "2024-12-14 03:00:00"
    assert allowed.remote.endswith("--since '2024-12-14 03:00:00' --no-pager")


def test_allowed_programs_lists_the_read_only_surface() -> None:
    programs = allowed_programs()
    assert {"df", "free", "uptime", "journalctl", "ip", "kubectl get", "openssl x509"} <= set(
        programs
    )
    assert not {p for p in programs if p.split()[-1] in {"delete", "exec", "apply", "rm"}}


def test_every_command_in_the_committed_scenarios_is_allowed() -> None:
    """A live run can gather whatever a recording holds."""
    commands = {
        json.loads(line)["command"]
        for path in SCENARIOS.glob("*/ssh.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    }
    assert commands, "no recorded SSH commands found"
    for command in sorted(commands):
        parse_command(command)
