"""Naming things: the workload behind a pod, the node behind a scrape target, an alert's subject.

Every specialist names components through these functions, so that the network,
compute and DNS specialists agree on what "payment-processor" or "node-2" is.
"""

from __future__ import annotations

import re

from agents.models import Incident
from tools.topology import Topology

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet
# Deployment pods: <name>-<replicaset hash>-<5>; CronJob pods: <name>-<schedule time>-<5>.
_RS_POD = re.compile(r"^(?P<w>.+?)-(?:(?=[a-z]*[0-9])[a-z0-9]{8,10}|[0-9]{8,})-[a-z0-9]{5}$")
_DEPLOY_POD = re.compile(rf"^(?P<w>.+)-(?:[{_SAFE}]{{6,10}}|\d{{6,10}})-[{_SAFE}]{{5}}$")
# DaemonSet / Job pods: <name>-<5>; StatefulSet pods: <name>-<ordinal>.
_SHORT_POD = re.compile(r"^(?P<w>.+?)-(?=[a-z]*[0-9])[a-z0-9]{5}$")
_DAEMON_POD = re.compile(rf"^(?P<w>.+)-[{_SAFE}]{{5}}$")
_STATEFUL_POD = re.compile(r"^(?P<w>.+)-\d+$")

_SUBJECT_LABELS = (
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
    "container",
    "service",
    "instance",
    "node",
    "device",
    "job",
)


def workload_name(pod: str, container: str | None = None, *, ordinals: bool = True) -> str:
    """The workload a pod belongs to: its name without ReplicaSet / pod hash suffixes.

    ``payment-processor-6c9f8d7b5-x2x8k`` → ``payment-processor``; ``web-0`` → ``web``;
    a pod whose name starts with its container's name gives the container name;
    otherwise the pod name itself. ``ordinals=False`` keeps ``-0``-style suffixes (for
    names that may be nodes, such as ``node-10``).
    """
    if not pod:
        return container or ""
    for pattern in (_RS_POD, _SHORT_POD, _DEPLOY_POD):
        if m := pattern.match(pod):
            return m["w"]
    if container and container != "POD" and pod.startswith(container + "-"):
        return container
    for pattern in (_DAEMON_POD, _STATEFUL_POD) if ordinals else (_DAEMON_POD,):
        if m := pattern.match(pod):
            return m["w"]
    return pod


def node_name(instance: str, topology: Topology | None = None) -> str:
    """A scrape ``instance`` (``node-1:9100``) as the node name (``node-1``).

    An address the topology knows (``10.0.0.11:2381``) becomes that node's name.
    """
    host = instance
    if instance.startswith("["):  # [ipv6]:port
        host = instance[1 : instance.index("]")] if "]" in instance else instance
    elif instance.count(":") == 1:
        host = instance.rsplit(":", 1)[0]
    if topology is not None:
        for node in topology.nodes:
            if node.address and host == node.address:
                return node.name
    return host


def focus_names(labels: dict[str, str]) -> set[str]:
    """What the alert names (pod's workload, container, node), lower-cased, for ranking only."""
    names = {labels.get(k, "") for k in ("container", "node", "host", "deployment", "job")}
    if pod := labels.get("pod"):
        names |= {pod, workload_name(pod, labels.get("container"))}
    if inst := labels.get("instance"):
        names.add(node_name(inst))
    return {n.lower() for n in names if n}


def subject_of_alert(incident: Incident) -> str:
    """What the alert is about, for a "nothing is broken" answer (workload, node, ...)."""
    labels = incident.labels
    keys: tuple[str, ...] = _SUBJECT_LABELS
    if labels.get("job", "").startswith("node"):
        # node exporter alerts carry the exporter's own pod label; the node is the subject
        keys = ("node", "instance", *_SUBJECT_LABELS)
    for key in keys:
        value = labels.get(key, "").strip()
        if value:
            if key == "pod":
                return workload_name(value, labels.get("container"))
            if key == "instance":
                return node_name(value, incident.topology)
            return value
    return incident.alertname or "unknown"
