"""The lab switch's counters for snmpd: a net-snmp ``pass_persist`` program (stdlib only).

snmpd serves the switch namespace's real IF-MIB from the kernel; this program fills in
what a Linux bridge keeps elsewhere, as a switch ASIC would report it:

- ``ifHCInBroadcastPkts.N``: broadcast frames received on bridge port N, counted by the
  switch's nftables table (``/proc/net/dev`` has no broadcast column);
- ``ifInDiscards.N`` / ``ifOutDiscards.N``: the kernel's rx/tx drops of the port plus the
  frames the switch's own rules discarded on it (nftables counters ``din_PORT`` /
  ``dout_PORT``), as a switch counts frames its ACLs and policers drop;
- BRIDGE-MIB ``dot1dStpTopChanges.0`` and ``dot1dStpTimeSinceTopologyChange.0``: counted
  by watching the bridge's ports in sysfs, one change per port that enters or leaves the
  forwarding state (what makes an 802.1D bridge send a topology-change notification).

N is the port's ifIndex in the namespace. One instance serves one column (``--column``);
snmpd starts one per ``pass_persist`` line. It only reads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

NET = Path("/sys/class/net")
COLUMNS = {
    "broadcast": (".1.3.6.1.2.1.31.1.1.1.9", "counter64"),
    "in_discards": (".1.3.6.1.2.1.2.2.1.13", "counter"),
    "out_discards": (".1.3.6.1.2.1.2.2.1.19", "counter"),
    "stp": (".1.3.6.1.2.1.17.2", ""),
}
STP_TIME_SINCE = ".1.3.6.1.2.1.17.2.3.0"
STP_TOP_CHANGES = ".1.3.6.1.2.1.17.2.4.0"
FORWARDING = 3  # Linux bridge port state (BR_STATE_FORWARDING)


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.strip(".").split(".") if x)


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


class Counters:
    """nftables named counters of the switch table, re-read at most once a second."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._at = 0.0
        self._values: dict[str, int] = {}

    def get(self, name: str) -> int:
        now = time.monotonic()
        if now - self._at > 1.0:
            self._values = self._read()
            self._at = now
        return self._values.get(name, 0)

    def _read(self) -> dict[str, int]:
        try:
            out = subprocess.run(
                ["nft", "-j", "list", "counters", "table", "bridge", self.table],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
            rows = json.loads(out or "{}").get("nftables", [])
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return {}
        values: dict[str, int] = {}
        for row in rows:
            counter = row.get("counter") if isinstance(row, dict) else None
            if isinstance(counter, dict):
                values[str(counter.get("name"))] = int(counter.get("packets", 0))
        return values


class TopologyWatch(threading.Thread):
    """Counts topology changes: bridge ports entering or leaving forwarding."""

    def __init__(self, bridge: str) -> None:
        super().__init__(daemon=True)
        self.bridge = bridge
        self.changes = 0
        self.last_change = time.monotonic()
        self._states: dict[str, int] = {}

    def run(self) -> None:
        while True:
            self.poll()
            time.sleep(0.2)

    def poll(self) -> None:
        states: dict[str, int] = {}
        try:
            ports = sorted(p.name for p in (NET / self.bridge / "brif").iterdir())
        except OSError:
            ports = []
        for port in ports:
            states[port] = _read_int(NET / port / "brport" / "state")
        for port, state in states.items():
            before = self._states.get(port)
            if before is not None and (before == FORWARDING) != (state == FORWARDING):
                self.changes += 1
                self.last_change = time.monotonic()
        self._states = states


class Agent:
    """Answers ``get``/``getnext`` for one column."""

    def __init__(self, column: str, bridge: str, table: str) -> None:
        self.column = column
        self.base, self.type = COLUMNS[column]
        self.bridge = bridge
        self.counters = Counters(table)
        self.watch: TopologyWatch | None = None
        if column == "stp":
            self.watch = TopologyWatch(bridge)
            self.watch.poll()
            self.watch.start()

    def rows(self) -> list[tuple[str, str, int]]:
        """(oid, type, value) of this column, in OID order."""
        if self.watch is not None:
            ticks = int((time.monotonic() - self.watch.last_change) * 100)
            return [
                (STP_TIME_SINCE, "timeticks", ticks),
                (STP_TOP_CHANGES, "counter", self.watch.changes % 2**32),
            ]
        out: list[tuple[str, str, int]] = []
        try:
            ifaces = list(NET.iterdir())
        except OSError:
            ifaces = []
        for iface in ifaces:
            index = _read_int(iface / "ifindex")
            if index <= 0:
                continue
            name = iface.name
            if self.column == "broadcast":
                value = self.counters.get(f"bc_{name}")
            elif self.column == "in_discards":
                value = _read_int(iface / "statistics" / "rx_dropped")
                value = (value + self.counters.get(f"din_{name}")) % 2**32
            else:
                value = _read_int(iface / "statistics" / "tx_dropped")
                value = (value + self.counters.get(f"dout_{name}")) % 2**32
            out.append((f"{self.base}.{index}", self.type, value))
        return sorted(out, key=lambda r: _key(r[0]))

    def get(self, oid: str) -> tuple[str, str, int] | None:
        return next((r for r in self.rows() if _key(r[0]) == _key(oid)), None)

    def getnext(self, oid: str) -> tuple[str, str, int] | None:
        return next((r for r in self.rows() if _key(r[0]) > _key(oid)), None)


def serve(agent: Agent) -> None:
    """The pass_persist protocol on stdin/stdout until snmpd closes the pipe."""
    out = sys.stdout
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = line.strip().lower()
        if cmd == "ping":
            out.write("PONG\n")
        elif cmd in ("get", "getnext"):
            oid = sys.stdin.readline().strip()
            row = agent.get(oid) if cmd == "get" else agent.getnext(oid)
            out.write("NONE\n" if row is None else f"{row[0]}\n{row[1]}\n{row[2]}\n")
        elif cmd == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            out.write("not-writable\n")
        elif cmd:
            out.write("NONE\n")
        out.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``switch_agent.py --column COLUMN --bridge BR --table T``."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--column", choices=sorted(COLUMNS), required=True)
    p.add_argument("--bridge", default="br0")
    p.add_argument("--table", default="strata_lab")
    args = p.parse_args(argv)
    serve(Agent(args.column, args.bridge, args.table))


if __name__ == "__main__":
    main()
