"""Naming things: the workload behind a pod name, the subject of an alert."""

from __future__ import annotations

import re

from agents.models import Incident

# Deployment pods: <name>-<replicaset hash 5-10 chars>-<5 chars>; StatefulSet: <name>-<ordinal>;
# DaemonSet / Job pods: <name>-<5 chars>; CronJob pods: <name>-<8+ digit schedule time>-<5 chars>.
_RS_POD = re.compile(r"^(?P<w>.+?)-(?:(?=[a-z]*[0-9])[a-z0-9]{8,10}|[0-9]{8,})-[a-z0-9]{5}$")
_SHORT_POD = re.compile(r"^(?P<w>.+?)-(?=[a-z]*[0-9])[a-z0-9]{5}$")

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


def workload_name(pod: str) -> str:
    """``payment-processor`` for ``payment-processor-6c9f8d7b5-x2x8k``; the name itself otherwise."""
    for pattern in (_RS_POD, _SHORT_POD):
        m = pattern.match(pod)
        if m:
            return m.group("w")
    return pod


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
                return workload_name(value)
            if key == "instance":
                return value.rsplit(":", 1)[0]
            return value
    return incident.alertname or "unknown"
