"""Suggested next steps for a human, per fault. Text only: nothing here is ever executed."""

from __future__ import annotations

from agents.models import Remediation, RootCause

_STEPS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("network", "stp_loop"): [
        (
            "Find the looped ports on {c}: look for ports in forwarding state with MAC flaps and "
            "broadcast surges, then shut one side of the loop (or enable BPDU guard / loop guard).",
            "Shutting the wrong port cuts off a node; confirm with the switch's MAC table first.",
        ),
        (
            "Verify spanning tree is enabled on every trunk and that portfast is off on inter-switch "
            "links.",
            "Changing STP settings reconverges the network (seconds of outage).",
        ),
    ],
    ("network", "link_flap"): [
        (
            "Check the cable/transceiver on {c}; read the port's error counters and swap the cable.",
            "The node loses connectivity while the cable is swapped.",
        ),
    ],
    ("network", "packet_loss"): [
        (
            "Locate the port with discards on {c} and check its speed/duplex and queue drops.",
            "Low: read-only checks; reconfiguring QoS affects other traffic.",
        ),
    ],
    ("network", "interface_errors"): [
        (
            "Replace the cable or optic of {c}; CRC errors are usually physical.",
            "Brief link loss while replacing.",
        ),
    ],
    ("network", "conntrack_exhaustion"): [
        (
            "Raise net.netfilter.nf_conntrack_max on {c} and find the workload opening many flows.",
            "More memory for the conntrack table; the flow source may still need fixing.",
        ),
    ],
    ("network", "mtu_mismatch"): [
        (
            "Align the MTU on {c} and its peers (overlay networks need headroom).",
            "Changing MTU drops connections on that interface.",
        ),
    ],
    ("dns", "query_flood"): [
        (
            "Reduce {c}'s DNS query rate: cache lookups in the client, use FQDNs with a trailing dot "
            "or lower ndots in its pod dnsConfig.",
            "A code/config rollout of {c}.",
        ),
        (
            "Enable or enlarge CoreDNS's cache plugin and consider NodeLocal DNSCache.",
            "A CoreDNS restart briefly interrupts resolution.",
        ),
        (
            "Raise CoreDNS's memory limit only as a stop-gap while the client is fixed.",
            "Hides the flood; more memory pressure on the node.",
        ),
    ],
    ("dns", "upstream_failure"): [
        (
            "Check the upstream resolvers {c} forwards to (reachability, latency) and the path to them.",
            "Low: read-only checks.",
        ),
    ],
    ("dns", "resolver_down"): [
        (
            "Inspect {c}'s pods (events, last termination reason) and scale it up if capacity is short.",
            "Scaling changes cluster DNS capacity.",
        ),
    ],
    ("dns", "misconfiguration"): [
        (
            "Review the Corefile and the clients' search domains / ndots for {c}.",
            "A bad Corefile change breaks all resolution; test on one replica.",
        ),
    ],
    ("compute", "oom_kill"): [
        (
            "Compare {c}'s memory limit with its real working set; raise the limit or fix the "
            "allocation pattern.",
            "A higher limit raises node memory pressure.",
        ),
    ],
    ("compute", "memory_leak"): [
        (
            "Restart {c} to buy time and capture a heap profile before it restarts.",
            "A restart drops in-flight work; the leak comes back.",
        ),
    ],
    ("compute", "cpu_saturation"): [
        (
            "Find the top CPU consumers on {c} and move or limit them.",
            "Rescheduling disturbs pods.",
        ),
    ],
    ("compute", "node_not_ready"): [
        (
            "Check kubelet and the container runtime on {c} (journalctl -u kubelet, crictl ps).",
            "Restarting kubelet or the runtime restarts nothing else, but draining moves pods.",
        ),
    ],
    ("compute", "pod_crashloop"): [
        (
            "Read {c}'s previous container logs (kubectl logs --previous) and recent changes.",
            "Rolling back a deployment changes the running version.",
        ),
    ],
    ("compute", "eviction"): [
        (
            "Free the pressured resource on the node behind {c}'s evictions (disk, memory).",
            "Deleting data or pods is irreversible; check what it is first.",
        ),
    ],
    ("storage", "disk_full"): [
        (
            "Find the largest consumers on {c} (du -xh --max-depth=2) and clean logs/images.",
            "Deleting the wrong files loses data; prefer log rotation and image GC.",
        ),
    ],
    ("storage", "inode_exhaustion"): [
        (
            "Find directories with many small files on {c} (e.g. find -xdev | cut | sort | uniq -c).",
            "Bulk deletes are irreversible.",
        ),
    ],
    ("storage", "slow_disk"): [
        (
            "Check {c}'s disk health (SMART) and I/O load; move etcd to faster storage.",
            "Moving etcd's data requires a maintenance window.",
        ),
    ],
    ("storage", "provisioner_failure"): [
        (
            "Read the provisioner's logs and the PVC events for {c}; check its storage path exists.",
            "Re-creating PVCs can lose data.",
        ),
    ],
    ("storage", "io_errors"): [
        (
            "Check the kernel log and SMART data on {c}; plan a disk replacement.",
            "Continued writes may corrupt data.",
        ),
    ],
    ("control-plane", "cert_expired"): [
        (
            "Renew the expired certificate for {c} (kubeadm certs renew) and restart its users.",
            "Restarting control-plane components briefly interrupts the API.",
        ),
    ],
    ("control-plane", "apiserver_overload"): [
        (
            "Find the clients flooding the API server (apiserver_request_total by user agent).",
            "Throttling a client may break it.",
        ),
    ],
    ("control-plane", "etcd_unhealthy"): [
        ("Check etcd member health and disk latency for {c}.", "Defragmenting etcd blocks writes."),
    ],
    ("none", "no_fault"): [
        (
            "No fault found: consider tuning or silencing the alert on {c} if it fires routinely.",
            "A silenced alert can hide a real fault later.",
        ),
    ],
}

_GENERIC = ("Review recent changes affecting {c} and its {layer} layer.", "Low: read-only review.")


def suggest(root: RootCause) -> tuple[Remediation, ...]:
    """Suggested steps for ``root``, all requiring a human's approval."""
    steps = _STEPS.get((root.layer, root.fault), [_GENERIC])
    return tuple(
        Remediation(
            action=action.format(c=root.component, layer=root.layer),
            risk=risk.format(c=root.component, layer=root.layer),
        )
        for action, risk in steps
    )
