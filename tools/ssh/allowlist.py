"""The allow-list of read-only diagnostic commands a live SSH session may run.

Every command line is checked here, inside the process, before anything is sent:
it is split with :mod:`shlex`, every shell metacharacter is refused, and the argv
must match one typed pattern (program, subcommand, options and their values,
positional arguments: paths without ``..``, unit names, numbers, ...). What goes
over the wire is rebuilt from the validated argv with :func:`shlex.join`, so the
remote shell never sees anything but quoted words. One fixed pipeline is
understood, a trailing ``| tail -n N`` or ``| head -n N``; it is not sent but
applied to the output by the client.

This module must not run, send or connect anything; it only says yes (an
:class:`AllowedCommand`) or no (:class:`CommandRefused`, naming why). Anything
that changes state (``dmesg -c``, ``ss -K``, ``kubectl delete``, ``hostname NAME``),
follows forever (``journalctl -f``, ``kubectl logs -f``) or reads secrets
(``kubectl get secret``, ``/proc/PID/environ``) is outside the list.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tools.errors import ToolError

__all__ = ["AllowedCommand", "CommandRefused", "allowed_programs", "parse_command"]


class CommandRefused(ToolError):
    """The command is not on the read-only allow-list; nothing was sent."""

    title = "Command refused"


@dataclass(frozen=True)
class AllowedCommand:
    """A validated command: the argv to run remotely and an optional client-side filter."""

    argv: tuple[str, ...]
    """The program and its validated arguments."""
    keep: Literal["all", "head", "tail"] = "all"
    """``head``/``tail``: keep only the first/last ``lines`` lines of stdout (client-side)."""
    lines: int = 0
    """How many lines ``head``/``tail`` keeps."""

    @property
    def remote(self) -> str:
        """The command line sent to the host: the argv, each word shell-quoted."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Arg:
    """A typed argument value: a regex plus an optional extra check."""

    label: str
    pattern: str
    check: Callable[[str], str | None] | None = None  # returns why it is refused, or None

    def validate(self, value: str, where: str) -> str:
        if not re.fullmatch(self.pattern, value):
            raise CommandRefused(f"{where}: {value!r} is not a valid {self.label}")
        why = self.check(value) if self.check else None
        if why:
            raise CommandRefused(f"{where}: {why}")
        return value


def _no_dotdot(value: str) -> str | None:
    return "'..' is not allowed in paths" if ".." in value.split("/") else None


def _k8s_resources(value: str) -> str | None:
    kinds = {part.split("/", 1)[0] for part in value.split(",")}
    if kinds & {"secret", "secrets", "secret.v1", "secrets.v1"}:
        return "reading Kubernetes Secrets is not allowed"
    return None


def _choice(label: str, *words: str) -> Arg:
    return Arg(label, "|".join(re.escape(w) for w in words))


PATH = Arg("absolute path", r"/[A-Za-z0-9._/@:+,=-]{0,4095}", _no_dotdot)
CERT_PATH = Arg(
    "certificate path (*.crt, *.pem, *.cer)",
    r"/[A-Za-z0-9._/@:+,=-]{0,4091}\.(crt|pem|cer)",
    _no_dotdot,
)
NUMBER = Arg("number", r"[0-9]{1,6}")
UNIT = Arg("systemd unit name", r"[A-Za-z0-9][A-Za-z0-9:_.@-]{0,254}")
DEVICE = Arg("interface name", r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,15}")
_UNIT_WORDS = (
    r"s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days|w|week|weeks"
)
TIME = Arg(
    "journalctl time (YYYY-MM-DD[ HH:MM[:SS]], HH:MM, -30m, '2 hours ago', today, @EPOCH)",
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2})?)?"
    r"|[0-9]{2}:[0-9]{2}(:[0-9]{2})?"
    rf"|[+-][0-9]{{1,6}} ?({_UNIT_WORDS})|[0-9]{{1,6}} ?({_UNIT_WORDS}) ago"
    r"|today|yesterday|now|@[0-9]{1,12}",
)
_PRIO = r"emerg|alert|crit|err|warning|notice|info|debug|[0-7]"
PRIORITY = Arg("journalctl priority", rf"({_PRIO})(\.\.({_PRIO}))?")
_LEVEL = r"emerg|alert|crit|err|warn|notice|info|debug"
LEVELS = Arg("dmesg level list", rf"({_LEVEL})(,({_LEVEL}))*")
DURATION = Arg("duration (e.g. 30s, 15m, 2h)", r"[0-9]{1,6}(s|m|h)")
K8S_NAME = Arg("Kubernetes name", r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
K8S_RESOURCES = Arg(
    "Kubernetes resource (TYPE, TYPE/NAME or TYPE,TYPE)",
    r"[a-z0-9]([-a-z0-9.,/]{0,251}[a-z0-9])?",
    _k8s_resources,
)
SELECTOR = Arg("label/field selector", r"[A-Za-z0-9_./=!,-]{1,256}")
CONTAINER_ID = Arg("container or pod id", r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
K8S_OUTPUT = _choice("kubectl output format", "wide", "yaml", "json", "name")
CRI_OUTPUT = _choice("crictl output format", "json", "yaml", "table")

# Files worth reading when diagnosing a node; nothing per-process (environ, cmdline).
_SAFE_FILES = (
    r"/proc/(loadavg|meminfo|uptime|stat|vmstat|diskstats|mdstat|mounts|cpuinfo|partitions|swaps)"
    r"|/proc/pressure/(cpu|memory|io)"
    r"|/proc/net/(dev|snmp|snmp6|netstat|sockstat|sockstat6|softnet_stat|arp|route)"
    r"|/proc/sys/net/netfilter/nf_conntrack_(count|max)|/proc/sys/fs/file-nr"
    r"|/sys/class/net/[A-Za-z0-9_.:@-]{1,15}/(statistics/[a-z_]{1,40}|operstate|carrier|carrier_changes|speed|duplex|mtu)"
    r"|/etc/(resolv\.conf|hosts|hostname|os-release)"
)
SAFE_FILE = Arg(
    "file on the read allow-list (/proc/..., /sys/class/net/..., /etc/resolv.conf)", _SAFE_FILES
)


@dataclass(frozen=True)
class Spec:
    """Which options and positional arguments one (sub)command accepts."""

    flags: frozenset[str] = frozenset()
    options: Mapping[str, Arg] = field(default_factory=dict)
    positional: Arg | None = None
    max_positional: int = 0
    min_positional: int = 0
    required: tuple[tuple[str, ...], ...] = ()  # each group: one of these options must appear
    append: tuple[str, ...] = ()  # added when missing (e.g. --no-pager)


def _spec(
    flags: str = "",
    options: Mapping[str, Arg] | None = None,
    positional: Arg | None = None,
    max_positional: int = 0,
    min_positional: int = 0,
    required: Sequence[Sequence[str]] = (),
    append: Sequence[str] = (),
) -> Spec:
    return Spec(
        frozenset(flags.split()),
        dict(options or {}),
        positional,
        max_positional,
        min_positional,
        tuple(tuple(g) for g in required),
        tuple(append),
    )


def _aliases(arg: Arg, *names: str) -> dict[str, Arg]:
    return dict.fromkeys(names, arg)


_JOURNAL = _spec(
    "--no-pager -k --dmesg -q --quiet --utc -r --reverse --no-hostname",
    {
        **_aliases(UNIT, "-u", "--unit"),
        "--since": TIME,
        "--until": TIME,
        **_aliases(NUMBER, "-n", "--lines"),
        **_aliases(PRIORITY, "-p", "--priority"),
        **_aliases(
            _choice("journalctl output", "short", "short-iso", "short-precise", "cat", "json"),
            "-o",
            "--output",
        ),
    },
    required=[("-u", "--unit", "-k", "--dmesg"), ("--since",)],
    append=["--no-pager"],
)
_K8S_COMMON = {
    **_aliases(K8S_NAME, "-n", "--namespace"),
    "--context": Arg("kubeconfig context", r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,252}"),
    **_aliases(SELECTOR, "-l", "--selector", "--field-selector"),
}
_CRI_COMMON = {
    **_aliases(CRI_OUTPUT, "-o", "--output"),
    "--name": K8S_NAME,
    "--namespace": K8S_NAME,
    "--label": SELECTOR,
    "--state": _choice("state", "running", "exited", "created", "unknown", "ready", "notready"),
}

# (program, subcommand or None) -> Spec
_SPECS: dict[tuple[str, str | None], Spec] = {
    ("df", None): _spec(
        "-h -H -i -T -P -l -k --human-readable --inodes --print-type --local --portability",
        positional=PATH,
        max_positional=8,
    ),
    ("free", None): _spec("-b -k -m -g -h -w -t --mega --giga --human --wide --total"),
    ("uptime", None): _spec("-p -s --pretty --since"),
    ("uname", None): _spec("-a -s -n -r -v -m"),
    ("hostname", None): _spec("-f -s --fqdn --short"),
    ("nproc", None): _spec(),
    ("cat", None): _spec(positional=SAFE_FILE, min_positional=1, max_positional=8),
    ("dmesg", None): _spec(
        "-T --ctime -k --kernel -u --userspace -x --decode -t --notime",
        {**_aliases(LEVELS, "-l", "--level")},
    ),
    ("journalctl", None): _JOURNAL,
    ("ss", None): _spec(
        "-s --summary -t -u -n -a -l -i -m -e -x -4 -6 -H -p -o -w --tcp --udp --numeric --all --listening"
    ),
    ("conntrack", None): _spec("-S -C --stats --count"),
    ("du", None): _spec(
        "-x -s -h -c -k -m --one-file-system --summarize --human-readable --total",
        positional=PATH,
        min_positional=1,
        max_positional=8,
    ),
    ("findmnt", None): _spec(
        "-n -l -D --df --noheadings --list", positional=PATH, max_positional=2
    ),
    ("systemctl", "is-active"): _spec(
        "-q --quiet", positional=UNIT, min_positional=1, max_positional=8
    ),
    ("systemctl", "status"): _spec(
        "--no-pager -l --full",
        {"-n": NUMBER, "--lines": NUMBER},
        positional=UNIT,
        min_positional=1,
        max_positional=4,
        append=["--no-pager"],
    ),
    ("ethtool", None): _spec(
        "-S -i -m --statistics --driver",
        positional=DEVICE,
        min_positional=1,
        max_positional=1,
        required=[("-S", "-i", "-m", "--statistics", "--driver")],
    ),
    ("openssl", "x509"): _spec(
        "-noout -enddate -startdate -dates -subject -issuer -serial -fingerprint",
        {"-in": CERT_PATH, "-checkend": NUMBER, "-inform": _choice("format", "PEM", "DER")},
        required=[("-in",), ("-noout",)],
    ),
    ("crictl", "ps"): _spec(
        "-a --all -q --quiet -v --verbose --no-trunc", {**_CRI_COMMON, "--pod": CONTAINER_ID}
    ),
    ("crictl", "pods"): _spec("-q --quiet -v --verbose --no-trunc", _CRI_COMMON),
    ("crictl", "stats"): _spec(
        "-a --all", {**_aliases(CRI_OUTPUT, "-o", "--output"), "--id": CONTAINER_ID}
    ),
    ("crictl", "logs"): _spec(
        "-t --timestamps -p --previous",
        {"--tail": NUMBER, "--since": DURATION},
        positional=CONTAINER_ID,
        min_positional=1,
        max_positional=1,
        required=[("--tail",)],
    ),
    ("kubectl", "get"): _spec(
        "-A --all-namespaces --show-labels --no-headers --ignore-not-found",
        {**_K8S_COMMON, **_aliases(K8S_OUTPUT, "-o", "--output")},
        positional=K8S_RESOURCES,
        min_positional=1,
        max_positional=8,
    ),
    ("kubectl", "describe"): _spec(
        "-A --all-namespaces",
        _K8S_COMMON,
        positional=K8S_RESOURCES,
        min_positional=1,
        max_positional=8,
    ),
    ("kubectl", "logs"): _spec(
        "-p --previous --timestamps --all-containers --prefix",
        {
            **_K8S_COMMON,
            **_aliases(K8S_NAME, "-c", "--container"),
            "--tail": NUMBER,
            "--since": DURATION,
        },
        positional=K8S_RESOURCES,
        max_positional=1,
        required=[("--tail",)],
    ),
    ("kubectl", "top"): _spec(
        "-A --all-namespaces --no-headers",
        _K8S_COMMON,
        positional=K8S_RESOURCES,
        min_positional=1,
        max_positional=2,
    ),
}

_IP_FLAGS = frozenset(
    {"-s", "-stats", "-d", "-details", "-br", "-brief", "-4", "-6", "-j", "-json", "-o", "-oneline"}
)
_IP_OBJECTS = frozenset({"link", "addr", "address", "route", "neigh", "neighbour", "rule"})

# Shell metacharacters, globbing and expansion characters, control characters.
_META = re.compile(r"[;&|<>`$(){}\[\]*?~#\\\x00-\x1f\x7f]")
_FILTER = re.compile(r"\|\s*(tail|head)(?:\s+-n\s*([0-9]{1,6})|\s+-([0-9]{1,6}))?\s*\Z")


def allowed_programs() -> list[str]:
    """The commands on the allow-list, as ``program [subcommand]`` (for help and docs)."""
    names = {f"{prog} {sub}" if sub else prog for prog, sub in _SPECS}
    return sorted(names | {"ip"})


def parse_command(command: str) -> AllowedCommand:
    """Validate ``command`` against the allow-list.

    Args:
        command: A command line as a person would type it, optionally ending in
            ``| tail -n N`` or ``| head -n N``.

    Returns:
        The validated argv (sent as ``shlex.join(argv)``) and the client-side filter.

    Raises:
        CommandRefused: The command is not allowed; the message says why.
    """
    if re.search(r"[\x00-\x1f\x7f]", command):
        raise CommandRefused("control characters (newline, tab, ...) are not allowed")
    head, keep, lines = _split_filter(command)
    bad = _META.search(head)
    if bad:
        raise CommandRefused(
            f"shell metacharacter {bad.group()!r} is not allowed: commands run without a "
            "shell, and the only pipeline understood is a trailing '| tail -n N' or '| head -n N'"
        )
    try:
        argv = shlex.split(head)
    except ValueError as exc:
        raise CommandRefused(f"cannot parse the command: {exc}") from None
    if not argv:
        raise CommandRefused("empty command")
    prog, args = argv[0], argv[1:]
    if prog == "ip":
        return AllowedCommand(("ip", *_check_ip(args)), keep, lines)
    if (prog, None) in _SPECS:
        return AllowedCommand((prog, *_check(prog, args, _SPECS[prog, None])), keep, lines)
    subs = sorted(sub for p, sub in _SPECS if p == prog and sub)
    if not subs:
        raise CommandRefused(
            f"{prog!r} is not on the read-only allow-list (allowed: {', '.join(allowed_programs())})"
        )
    sub = args[0] if args else ""
    if sub not in subs:
        raise CommandRefused(
            f"'{prog} {sub}' is not allowed (read-only {prog} subcommands: {', '.join(subs)})"
        )
    checked = _check(f"{prog} {sub}", args[1:], _SPECS[prog, sub])
    return AllowedCommand((prog, sub, *checked), keep, lines)


def _split_filter(command: str) -> tuple[str, Literal["all", "head", "tail"], int]:
    match = _FILTER.search(command)
    if match is None:
        return command, "all", 0
    digits = match.group(2) or match.group(3)
    count = 10 if digits is None else int(digits)
    if count < 1:
        raise CommandRefused(f"{match.group(1)} needs a positive line count")
    keep: Literal["head", "tail"] = "tail" if match.group(1) == "tail" else "head"
    return command[: match.start()].rstrip(), keep, count


def _check(where: str, args: Sequence[str], spec: Spec) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    positional = 0
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in spec.options:
            if eq:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                raise CommandRefused(f"{where}: option {name} needs a value")
            out += [name, spec.options[name].validate(value, f"{where} {name}")]
            seen.add(name)
        elif token in spec.flags or _is_flag_cluster(token, spec.flags):
            out.append(token)
            seen.add(token)
        elif token.startswith("-") and token != "-":
            allowed = ", ".join(sorted(spec.flags | set(spec.options))) or "none"
            raise CommandRefused(f"{where}: option {token} is not allowed (allowed: {allowed})")
        elif spec.positional is None or positional >= spec.max_positional:
            raise CommandRefused(f"{where}: unexpected argument {token!r}")
        else:
            out.append(spec.positional.validate(token, where))
            positional += 1
        i += 1
    if positional < spec.min_positional:
        label = spec.positional.label if spec.positional else "argument"
        raise CommandRefused(f"{where}: needs at least {spec.min_positional} {label}")
    for group in spec.required:
        if not seen & set(group):
            raise CommandRefused(
                f"{where}: {' or '.join(group)} is required (keeps the output bounded)"
            )
    return out + [a for a in spec.append if a not in seen]


def _is_flag_cluster(token: str, flags: frozenset[str]) -> bool:
    """``-hT`` where ``-h`` and ``-T`` are both single-letter flags."""
    return (
        len(token) > 2
        and token[0] == "-"
        and token[1] != "-"
        and all(f"-{c}" in flags for c in token[1:])
    )


def _check_ip(args: Sequence[str]) -> list[str]:
    """``ip [-s] [-d] [-br] [-4|-6] [-j] OBJECT [show|list] [dev] [DEV]``: read-only listings only."""
    i = 0
    while i < len(args) and args[i] in _IP_FLAGS:
        i += 1
    if i >= len(args) or args[i] not in _IP_OBJECTS:
        found = args[i] if i < len(args) else "nothing"
        raise CommandRefused(
            f"ip: expected one of {', '.join(sorted(_IP_OBJECTS))} (after options "
            f"{' '.join(sorted(_IP_FLAGS))}), got {found!r}"
        )
    rest = list(args[i + 1 :])
    if rest and rest[0] in ("show", "list", "ls"):
        rest = rest[1:]
    elif rest:
        raise CommandRefused(f"ip {args[i]}: only 'show' is allowed, not {rest[0]!r}")
    if rest and rest[0] == "dev":
        rest = rest[1:]
        if not rest:
            raise CommandRefused("ip: 'dev' needs an interface name")
    if len(rest) > 1:
        raise CommandRefused(f"ip {args[i]} show: unexpected arguments {' '.join(rest[1:])!r}")
    for dev in rest:
        DEVICE.validate(dev, f"ip {args[i]} show")
    return list(args)
