"""The root-cause vocabulary of scenario format v1: layers and their faults.

New faults are added to the format document first, then here.
"""

from __future__ import annotations

from typing import Final

FAULTS: Final[dict[str, tuple[str, ...]]] = {
    "network": (
        "stp_loop",
        "link_flap",
        "packet_loss",
        "interface_errors",
        "conntrack_exhaustion",
        "mtu_mismatch",
    ),
    "compute": (
        "oom_kill",
        "memory_leak",
        "cpu_saturation",
        "node_not_ready",
        "pod_crashloop",
        "eviction",
    ),
    "storage": ("disk_full", "inode_exhaustion", "slow_disk", "provisioner_failure", "io_errors"),
    "dns": ("query_flood", "upstream_failure", "resolver_down", "misconfiguration"),
    "control-plane": ("cert_expired", "apiserver_overload", "etcd_unhealthy"),
    "application": ("misconfiguration", "dependency_timeout", "bad_deploy"),
    "none": ("no_fault",),
}

LAYERS: Final[tuple[str, ...]] = tuple(FAULTS)


def check(layer: str, fault: str) -> None:
    """Raise ValueError unless ``layer``/``fault`` is in the vocabulary."""
    if layer not in FAULTS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    if fault not in FAULTS[layer]:
        raise ValueError(
            f"unknown fault {fault!r} for layer {layer!r}; expected one of "
            f"{', '.join(FAULTS[layer])}"
        )


def is_valid(layer: str, fault: str) -> bool:
    """Whether ``layer``/``fault`` is in the vocabulary."""
    return fault in FAULTS.get(layer, ())
