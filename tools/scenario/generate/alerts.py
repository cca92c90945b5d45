"""Alert rules as sites ship them, and the Alertmanager webhook a firing rule produces.

Rule texts (expression, ``for``, severity, annotations) come from the reference rule
sets in /work/shared/reference (kube-prometheus, the CoreDNS and etcd mixins, the
x509-certificate-exporter chart) and, for the few a homelab commonly adds, from
ingress-nginx's chart and awesome-prometheus-alerts. Annotations are rendered the way
the Go templates would render them. Nothing here knows why a rule fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate.scene import Scene

KP = "https://runbooks.prometheus-operator.dev/runbooks"


@dataclass(frozen=True)
class Rule:
    """One alerting rule."""

    name: str
    group: str
    for_s: float
    severity: str
    expr: str
    summary: str
    description: str  # str.format template over the alert's labels plus ``value``
    runbook: str | None = None
    extra_labels: tuple[tuple[str, str], ...] = ()


_RULES = (
    Rule(
        "KubePodCrashLooping",
        "kubernetes-apps",
        900,
        "warning",
        'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", '
        'job="kube-state-metrics"}[5m]) >= 1\n',
        "Pod is crash looping.",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff") on cluster '
        "{cluster}.",
        f"{KP}/kubernetes/kubepodcrashlooping",
    ),
    Rule(
        "KubePodNotReady",
        "kubernetes-apps",
        900,
        "warning",
        "sum by (namespace, pod, job, cluster) (max by(namespace, pod, job, cluster) (kube_pod_status_phase{job="
        '"kube-state-metrics", phase=~"Pending|Unknown"}) ) > 0\n',
        "Pod has been in a non-ready state for more than 15 minutes.",
        "Pod {namespace}/{pod} has been in a non-ready state for longer than 15 minutes on cluster {cluster}.",
        f"{KP}/kubernetes/kubepodnotready",
    ),
    Rule(
        "CPUThrottlingHigh",
        "kubernetes-resources",
        900,
        "info",
        'sum(increase(container_cpu_cfs_throttled_periods_total{container!="", job="kubelet", metrics_path='
        '"/metrics/cadvisor", }[5m])) without (id, metrics_path, name, image, endpoint, job, node)\n/ on (cluster, '
        "namespace, pod, container, instance) group_left\nsum(increase(container_cpu_cfs_periods_total{job="
        '"kubelet", metrics_path="/metrics/cadvisor", }[5m])) without (id, metrics_path, name, image, endpoint, job, '
        "node)\n> ( 25 / 100 )\n",
        "Processes experience elevated CPU throttling.",
        "{value} throttling of CPU in namespace {namespace} for container {container} in pod {pod} on cluster "
        "{cluster}.",
        f"{KP}/kubernetes/cputhrottlinghigh",
    ),
    Rule(
        "KubeNodeNotReady",
        "kubernetes-system-kubelet",
        900,
        "warning",
        'kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"} == 0\n',
        "Node is not ready.",
        "{node} has been unready for more than 15 minutes on cluster {cluster}.",
        f"{KP}/kubernetes/kubenodenotready",
    ),
    Rule(
        "KubeNodePressure",
        "kubernetes-system-kubelet",
        600,
        "info",
        'kube_node_status_condition{job="kube-state-metrics",condition=~"(MemoryPressure|DiskPressure|PIDPressure)",'
        'status="true"} == 1\n',
        "Node has as active Condition.",
        "{node} on cluster {cluster} has active Condition {condition}. This is caused by resource usage exceeding "
        "eviction thresholds.",
        f"{KP}/kubernetes/kubenodepressure",
    ),
    Rule(
        "TargetDown",
        "general.rules",
        600,
        "warning",
        "100 * (count(up == 0) BY (cluster, job, namespace, service) / count(up) BY (cluster, job, namespace, "
        "service)) > 10",
        "One or more targets are unreachable.",
        "{value}% of the {job}/{service} targets in {namespace} namespace are down.",
        f"{KP}/general/targetdown",
    ),
    Rule(
        "KubeAPIErrorBudgetBurn",
        "kube-apiserver-slos",
        120,
        "critical",
        "sum by(cluster) (apiserver_request:burnrate1h) > (14.40 * 0.01000) and on(cluster) sum by(cluster) "
        "(apiserver_request:burnrate5m) > (14.40 * 0.01000)\n",
        "The API server is burning too much error budget.",
        "The API server is burning too much error budget on cluster {cluster}.",
        f"{KP}/kubernetes/kubeapierrorbudgetburn",
        (("long", "1h"), ("short", "5m")),
    ),
    Rule(
        "KubeClientErrors",
        "kubernetes-system",
        900,
        "warning",
        '(sum(rate(rest_client_requests_total{job="apiserver",code=~"5.."}[5m])) by (cluster, instance, job, '
        'namespace)\n  /\nsum(rate(rest_client_requests_total{job="apiserver"}[5m])) by (cluster, instance, job, '
        "namespace))\n> 0.01\n",
        "Kubernetes API server client is experiencing errors.",
        "Kubernetes API server client '{job}/{instance}' is experiencing {value} errors on cluster {cluster}.",
        f"{KP}/kubernetes/kubeclienterrors",
    ),
    Rule(
        "NodeFilesystemSpaceFillingUp",
        "node-exporter",
        3600,
        "warning",
        '(\n  node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_size_bytes'
        '{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 20\nand\n  predict_linear(node_filesystem_avail_'
        'bytes{job="node-exporter",fstype!="",mountpoint!=""}[6h], 24*60*60) < 0\nand\n  node_filesystem_readonly'
        '{job="node-exporter",fstype!="",mountpoint!=""} == 0\n)\n',
        "Filesystem is predicted to run out of space within the next 24 hours.",
        "Filesystem on {device}, mounted on {mountpoint}, at {instance} has only {value}% available space left "
        "and is filling up.",
        f"{KP}/node/nodefilesystemspacefillingup",
    ),
    Rule(
        "NodeFilesystemAlmostOutOfSpace",
        "node-exporter",
        1800,
        "warning",
        '(\n  node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_size_bytes'
        '{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 5\nand\n  node_filesystem_readonly{job="node-'
        'exporter",fstype!="",mountpoint!=""} == 0\n)\n',
        "Filesystem has less than 5% space left.",
        "Filesystem on {device}, mounted on {mountpoint}, at {instance} has only {value}% available space left.",
        f"{KP}/node/nodefilesystemalmostoutofspace",
    ),
    Rule(
        "NodeFilesystemFilesFillingUp",
        "node-exporter",
        3600,
        "warning",
        '(\n  node_filesystem_files_free{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_files'
        '{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 40\nand\n  predict_linear(node_filesystem_files_'
        'free{job="node-exporter",fstype!="",mountpoint!=""}[6h], 24*60*60) < 0\n)\n',
        "Filesystem is predicted to run out of inodes within the next 24 hours.",
        "Filesystem on {device}, mounted on {mountpoint}, at {instance} has only {value}% available inodes left "
        "and is filling up.",
        f"{KP}/node/nodefilesystemfilesfillingup",
    ),
    Rule(
        "NodeNetworkReceiveErrs",
        "node-exporter",
        3600,
        "warning",
        'rate(node_network_receive_errs_total{job="node-exporter"}[2m]) / rate(node_network_receive_packets_total'
        '{job="node-exporter"}[2m]) > 0.01\n',
        "Network interface is reporting many receive errors.",
        "{instance} interface {device} has encountered {value} receive errors in the last two minutes.",
        f"{KP}/node/nodenetworkreceiveerrs",
    ),
    Rule(
        "NodeNetworkInterfaceFlapping",
        "node-network",
        120,
        "warning",
        'changes(node_network_up{job="node-exporter",device!~"veth.+"}[2m]) > 2\n',
        "Network interface is often changing its status",
        'Network interface "{device}" changing its up status often on node-exporter {namespace}/{pod}',
        f"{KP}/general/nodenetworkinterfaceflapping",
    ),
    Rule(
        "NodeHighNumberConntrackEntriesUsed",
        "node-exporter",
        0,
        "warning",
        '(node_nf_conntrack_entries{job="node-exporter"} / node_nf_conntrack_entries_limit) > 0.75\n',
        "Number of conntrack are getting close to the limit.",
        "{value} of conntrack entries are used.",
        f"{KP}/node/nodehighnumberconntrackentriesused",
    ),
    Rule(
        "NodeMemoryHighUtilization",
        "node-exporter",
        900,
        "warning",
        '100 - (node_memory_MemAvailable_bytes{job="node-exporter"} / node_memory_MemTotal_bytes{job="node-'
        'exporter"} * 100) > 90\n',
        "Host is running out of memory.",
        "Memory is filling up at {instance}, has been above 90% for the last 15 minutes, is currently at {value}%.",
        f"{KP}/node/nodememoryhighutilization",
    ),
    Rule(
        "HostHighCpuLoad",
        "host",
        300,
        "warning",
        '100 - (avg by(instance) (rate(node_cpu_seconds_total{mode="idle"}[2m])) * 100) > 80',
        "Host high CPU load (instance {instance})",
        "CPU load is > 80%\n  VALUE = {value}\n  LABELS = {labels}",
    ),
    Rule(
        "KubernetesContainerOomKiller",
        "kubernetes",
        0,
        "warning",
        "(kube_pod_container_status_restarts_total - kube_pod_container_status_restarts_total offset 10m >= 1) and "
        'ignoring (reason) min_over_time(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}[10m]) '
        "== 1",
        "Kubernetes Container oom killer ({namespace}/{pod}:{container})",
        "Container {container} in pod {namespace}/{pod} has been OOMKilled {value} times in the last 10 minutes.\n"
        "  VALUE = {value}\n  LABELS = {labels}",
    ),
    Rule(
        "etcdHighFsyncDurations",
        "etcd",
        600,
        "warning",
        'histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket{job=~".*etcd.*"}[5m])) > 0.5',
        "etcd cluster 99th percentile fsync durations are too high.",
        'etcd cluster "{job}": 99th percentile fsync durations are {value}s on etcd instance {instance}.',
    ),
    Rule(
        "etcdHighCommitDurations",
        "etcd",
        600,
        "warning",
        'histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket{job=~".*etcd.*"}[5m])) > '
        "0.25",
        "etcd cluster 99th percentile commit durations are too high.",
        'etcd cluster "{job}": 99th percentile commit durations {value}s on etcd instance {instance}.',
    ),
    Rule(
        "etcdNoLeader",
        "etcd",
        60,
        "critical",
        'etcd_server_has_leader{job=~".*etcd.*"} == 0',
        "etcd cluster has no leader.",
        'etcd cluster "{job}": member {instance} has no leader.',
    ),
    Rule(
        "etcdHighNumberOfLeaderChanges",
        "etcd",
        300,
        "warning",
        'increase((max without (instance) (etcd_server_leader_changes_seen_total{job=~".*etcd.*"}) or 0*absent('
        'etcd_server_leader_changes_seen_total{job=~".*etcd.*"}))[15m:1m]) >= 4',
        "etcd cluster has high number of leader changes.",
        'etcd cluster "{job}": {value} leader changes within the last 15 minutes. Frequent elections may be a sign '
        "of insufficient resources, high network latency, or disruptions by other components and should be "
        "investigated.",
    ),
    Rule(
        "CoreDNSErrorsHigh",
        "coredns",
        600,
        "critical",
        'sum(rate(coredns_dns_responses_total{k8s_app="kube-dns",rcode="SERVFAIL"}[5m])) / sum(rate(coredns_dns_'
        'responses_total{k8s_app="kube-dns"}[5m])) > 0.03',
        "CoreDNS is returning SERVFAIL.",
        "CoreDNS is returning SERVFAIL for {value} of requests.",
    ),
    Rule(
        "CoreDNSForwardErrorsHigh",
        "coredns",
        600,
        "critical",
        'sum(rate(coredns_forward_responses_total{k8s_app="kube-dns",rcode="SERVFAIL"}[5m])) / sum(rate(coredns_'
        'forward_responses_total{k8s_app="kube-dns"}[5m])) > 0.03',
        "CoreDNS is returning SERVFAIL for forward requests.",
        "CoreDNS is returning SERVFAIL for {value} of forward requests to {to}.",
    ),
    Rule(
        "CoreDNSForwardHealthcheckFailureCount",
        "coredns",
        600,
        "warning",
        'sum(rate(coredns_forward_healthcheck_failures_total{k8s_app="kube-dns"}[5m])) by (to) > 0',
        "CoreDNS health checks have failed to upstream server.",
        "CoreDNS health checks have failed to upstream server {to}.",
    ),
    Rule(
        "CoreDNSDown",
        "coredns",
        900,
        "critical",
        'absent(up{k8s_app="kube-dns"} == 1)',
        "CoreDNS has disappeared from Prometheus target discovery.",
        "CoreDNS has disappeared from Prometheus target discovery.",
    ),
    Rule(
        "CertificateExpiration",
        "x509-certificate-exporter.rules",
        900,
        "critical",
        "((x509_cert_not_after - time()) / 86400) < 7",
        "Certificate is about to expire",
        'Certificate for "{subject_CN}" is about to expire after {value} days. at location "{filepath}"',
    ),
    Rule(
        "NGINXTooMany500s",
        "ingress-nginx",
        60,
        "warning",
        '100 * ( sum( nginx_ingress_controller_requests{status=~"5.+"} ) / sum(nginx_ingress_controller_requests) )'
        " > 5",
        "More than 5% of all requests returned 5XX, this requires your attention",
        "Too many 5XXs",
    ),
)

RULES: dict[str, Rule] = {r.name: r for r in _RULES}
"""Every rule the generator can fire, by alert name."""


def eval_offset(scene: Scene, group: str) -> float:
    """Where in each 30 s evaluation interval the rule group runs (fixed per group)."""
    return scene.offset(f"rules/{group}") / 2


def fires_at(scene: Scene, rule: Rule, active_from: float) -> float:
    """When a rule whose expression is true from ``active_from`` starts firing: the first
    evaluation ``for`` after the first evaluation that saw it, clamped into the window."""
    off = eval_offset(scene, rule.group)
    k = (active_from - scene.start - off) // 30 + 1
    first = scene.start + off + k * 30
    fire = first + rule.for_s
    return min(max(fire, scene.start + 60), scene.end - 5)


def render(template: str, labels: Mapping[str, str], value: str) -> str:
    """A description template with the alert's labels and ``value`` filled in."""
    fields: dict[str, Any] = {k: v for k, v in labels.items()}
    fields["value"] = value
    fields["labels"] = "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"

    class _Missing(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return ""

    return template.format_map(_Missing(fields))


def payload(
    scene: Scene,
    name: str,
    labels: Mapping[str, str],
    value: str,
    active_from: float,
    group_by: tuple[str, ...] = ("alertname", "namespace"),
) -> dict[str, Any]:
    """The webhook body Alertmanager POSTs for rule ``name`` firing with ``labels``."""
    rule = RULES[name]
    full = {
        "alertname": name,
        "cluster": scene.site.cluster,
        **dict(rule.extra_labels),
        **labels,
        "severity": rule.severity,
    }
    if "namespace" not in full and "namespace" in group_by:
        full["namespace"] = "monitoring"
    ann = {
        "description": render(rule.description, full, value),
        "summary": render(rule.summary, full, value),
    }
    if rule.runbook:
        ann["runbook_url"] = rule.runbook
    starts = fires_at(scene, rule, active_from)
    entry = w.alert_entry(full, ann, starts, w.generator_url(scene.site.prom_url, rule.expr))
    return w.webhook_payload(
        [entry],
        receiver=scene.rng("receiver").choice(("strata", "strata-webhook", "default")),
        group_labels={k: full[k] for k in group_by if k in full},
        external_url=scene.site.am_url,
    )
