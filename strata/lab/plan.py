"""The lab's fixed shape: namespaces, addresses, ports, names. Nothing here runs anything.

Every address is in 10.200.0.0/24 and lives inside a namespace called ``stl-*``;
``down`` removes whatever carries that prefix, so a crashed run is cleaned up too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PREFIX: Final = "stl-"
"""Every namespace of the lab starts with this (and nothing else should)."""

SUBNET: Final = "10.200.0.0/24"
BROADCAST: Final = "10.200.0.255"
SWITCH_NS: Final = "stl-sw"
BRIDGE: Final = "br0"
SWITCH_NAME: Final = "sw1"
SWITCH_ADDR: Final = "10.200.0.2"
MON_NS: Final = "stl-mon"
MON_ADDR: Final = "10.200.0.10"
DNS_NS: Final = "stl-dns"
DNS_ADDR: Final = "10.200.0.53"
DNS_NAME: Final = "dnsmasq"
"""The DNS service's name in topology and ground truth (it plays CoreDNS' role)."""
SERVICE_NAME: Final = "api.lab"
"""The name every workload resolves, then calls over HTTP."""
SERVICE_PORT: Final = 8080
SNMP_COMMUNITY: Final = "homelab-ro"
PROMETHEUS_PORT: Final = 9090
ALERTMANAGER_PORT: Final = 9093
BLACKBOX_PORT: Final = 9115
SNMP_EXPORTER_PORT: Final = 9116
"""Prometheus' snmp_exporter in MON_NS: the switch's counters as metrics (for alerting)."""
NODE_EXPORTER_PORT: Final = 9100
WORKLOAD_METRICS_PORT: Final = 9101
SERVE_PORT: Final = 9095
"""Where Alertmanager posts its webhooks (``strata serve``'s default port) in MON_NS."""
SYSLOG_PORT: Final = 514
"""The log collector in MON_NS that every node ships syslog datagrams to ..."""
TELEMETRY_PPS: Final = 400
"""... at this many a second (a node's steady background traffic)."""
NFT_TABLE: Final = "strata_lab"
"""The nftables table of the switch namespace (bridge family)."""


@dataclass(frozen=True)
class Node:
    """One lab node: a namespace with one interface on the switch."""

    name: str
    ns: str
    addr: str
    port: str
    """The switch-side veth (a bridge port)."""


NODES: Final[tuple[Node, ...]] = (
    Node("node-1", "stl-n1", "10.200.0.11", "p1"),
    Node("node-2", "stl-n2", "10.200.0.12", "p2"),
    Node("node-3", "stl-n3", "10.200.0.13", "p3"),
)
SERVICE_NODE: Final = NODES[0]
"""The node that serves SERVICE_NAME."""


@dataclass(frozen=True)
class Attachment:
    """A namespace plugged into the switch: its switch port and address."""

    ns: str
    port: str
    addr: str


ATTACHMENTS: Final[tuple[Attachment, ...]] = (
    *(Attachment(n.ns, n.port, n.addr) for n in NODES),
    Attachment(DNS_NS, "p4", DNS_ADDR),
    Attachment(MON_NS, "p5", MON_ADDR),
)
LOOP_PORTS: Final = ("lpa", "lpb")
"""A redundant cable between two switch ports (both ends of one veth pair): STP blocks
one of them; the bridging-loop fault turns STP off."""
STORM_PPS: Final = 1000
"""Storm control on the redundant ports: frames a second each accepts ..."""
STORM_BURST: Final = 2000
"""... with this burst; the rest is discarded (and counted): a loop's storm stays bounded."""

NAMESPACES: Final[tuple[str, ...]] = (SWITCH_NS, *(a.ns for a in ATTACHMENTS))


def node(name: str) -> Node:
    """The node called ``name`` (``node-1`` or ``1``).

    Raises:
        ValueError: no such node.
    """
    for n in NODES:
        if name in (n.name, n.name.removeprefix("node-"), n.ns):
            return n
    raise ValueError(f"no lab node {name!r}; expected one of {', '.join(n.name for n in NODES)}")


def state_dir() -> Path:
    """Where the lab keeps its state, configs, logs and data (``$STRATA_LAB_DIR``)."""
    return Path(os.environ.get("STRATA_LAB_DIR") or "/run/strata-lab")
