"""Reconciliation: which hypothesis is the root cause, which are its symptoms.

An upstream layer with its own abnormal evidence, starting no later than the
downstream symptoms, explains those symptoms away (docs/DESIGN.md, layer
dependency graph). A few fault-level edges cover causes and effects that live in
layers with no general edge between them (a DNS query flood that OOM-kills the
resolver's pods). Timing, strength and coverage (how many other hypotheses a
candidate explains) decide between competitors. Pure functions: no I/O, no
model, no knowledge of any scenario.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.models import Hypothesis
from tools.topology import Topology

MIN_SCORE = 0.35
"""Below this a hypothesis has too little evidence to be a cause or to explain anything."""

ONSET_TOLERANCE = timedelta(seconds=90)
"""A cause may start up to this much after its effect and still explain it (scrape jitter)."""

SYMPTOM_DISCOUNT = 0.25
"""A hypothesis explained by another keeps this share of its score."""

COVERAGE_BONUS = 0.04
"""Added to a root candidate's ranking per other hypothesis it explains."""

RELEVANCE_BONUS = 0.08
"""Added to a root candidate's ranking when it, or a symptom it explains, is what the alert
names: an unrelated anomaly elsewhere should not outrank the alert's own story."""

# Upstream layer -> layers whose symptoms it can cause (docs/DESIGN.md).
LAYER_EDGES: dict[str, frozenset[str]] = {
    "network": frozenset({"dns", "control-plane", "application"}),
    "dns": frozenset({"application", "control-plane"}),
    "storage": frozenset({"control-plane", "application"}),
    "compute": frozenset({"application"}),
    "control-plane": frozenset({"application"}),
}

DNS_COMPONENTS = frozenset({"coredns", "kube-dns", "dns"})

# (cause layer, cause fault) -> (effect layer, {effect faults}, effect must be the DNS service?)
FAULT_EDGES: tuple[tuple[tuple[str, str], tuple[str, frozenset[str]], str], ...] = (
    (
        ("dns", "query_flood"),
        ("compute", frozenset({"oom_kill", "pod_crashloop", "memory_leak", "cpu_saturation"})),
        "dns-service",
    ),
    (("dns", "query_flood"), ("dns", frozenset({"resolver_down", "upstream_failure"})), "any"),
    (("compute", "memory_leak"), ("compute", frozenset({"oom_kill", "pod_crashloop"})), "same"),
    (("compute", "node_not_ready"), ("compute", frozenset({"pod_crashloop", "eviction"})), "any"),
    (("compute", "node_not_ready"), ("dns", frozenset({"resolver_down"})), "any"),
    # A crashing or OOM-killed resolver *is* the resolver being down: the DNS layer's
    # name for it is the answer, the compute view of the same pods its symptom.
    (
        ("dns", "resolver_down"),
        ("compute", frozenset({"oom_kill", "pod_crashloop"})),
        "dns-service",
    ),
    # Apps that die on "no such host" after a bad Corefile/search-domain change.
    (("dns", "misconfiguration"), ("compute", frozenset({"pod_crashloop"})), "any"),
    (
        ("compute", "cpu_saturation"),
        ("dns", frozenset({"upstream_failure", "resolver_down"})),
        "any",
    ),
    (("storage", "disk_full"), ("compute", frozenset({"eviction", "pod_crashloop"})), "any"),
    (("storage", "inode_exhaustion"), ("compute", frozenset({"eviction", "pod_crashloop"})), "any"),
    (("storage", "slow_disk"), ("compute", frozenset({"node_not_ready"})), "any"),
    # Apps whose volume returns I/O errors crash at start (a database that cannot read its WAL).
    (("storage", "io_errors"), ("compute", frozenset({"pod_crashloop", "node_not_ready"})), "any"),
    (("network", "stp_loop"), ("compute", frozenset({"node_not_ready"})), "any"),
    (("network", "link_flap"), ("compute", frozenset({"node_not_ready"})), "any"),
    (
        ("control-plane", "etcd_unhealthy"),
        ("control-plane", frozenset({"apiserver_overload"})),
        "any",
    ),
    (
        ("control-plane", "cert_expired"),
        ("compute", frozenset({"node_not_ready", "pod_crashloop"})),
        "any",
    ),
    (("application", "bad_deploy"), ("compute", frozenset({"pod_crashloop"})), "same"),
    (("application", "misconfiguration"), ("compute", frozenset({"pod_crashloop"})), "same"),
    (("compute", "memory_leak"), ("application", frozenset({"dependency_timeout"})), "same"),
)


@dataclass(frozen=True)
class Reconciled:
    """The outcome: every hypothesis with its role, best first, and the winner."""

    hypotheses: tuple[Hypothesis, ...]
    root: Hypothesis | None
    runner_up: Hypothesis | None
    """The strongest other independent explanation, if any."""
    max_raw_score: float
    """The strongest raw score of any hypothesis before reconciliation (0 when none)."""


def _norm(name: str) -> str:
    return name.strip().lower()


def _is_dns_service(component: str, topology: Topology) -> bool:
    names = {_norm(s.name) for s in topology.services_of_kind("dns")} | DNS_COMPONENTS
    c = _norm(component)
    return any(c == n or c.startswith(n + "-") for n in names)


def _fmt(ts: datetime | None) -> str:
    return ts.strftime("%H:%M") if ts else "an unknown time"


def _fault_edge(cause: Hypothesis, effect: Hypothesis, topology: Topology) -> bool:
    """Whether a specific fault-level edge says ``cause`` can produce ``effect``."""
    for (c_layer, c_fault), (e_layer, e_faults), scope in FAULT_EDGES:
        if (cause.layer, cause.fault) != (c_layer, c_fault):
            continue
        if effect.layer != e_layer or effect.fault not in e_faults:
            continue
        if scope == "same" and _norm(cause.component) != _norm(effect.component):
            continue
        if scope == "dns-service" and not _is_dns_service(effect.component, topology):
            continue
        return True
    return False


def _causal(cause: Hypothesis, effect: Hypothesis, topology: Topology) -> str | None:
    """Why ``cause`` can produce ``effect`` (ignoring timing), or None."""
    if cause.layer == effect.layer and cause.fault == effect.fault:
        return None
    if _fault_edge(cause, effect, topology):
        return f"{cause.key} on {cause.component} can cause {effect.key} on {effect.component}"
    # A specific edge the other way (a bad deploy crash-loops its pods) beats the
    # general layer order (compute is upstream of application).
    if _fault_edge(effect, cause, topology):
        return None
    if effect.layer in LAYER_EDGES.get(cause.layer, frozenset()):
        return f"{cause.layer} is upstream of {effect.layer}"
    return None


def _explains(cause: Hypothesis, effect: Hypothesis, topology: Topology) -> str | None:
    """A reason if ``cause`` explains ``effect`` away (causal edge and timing), else None."""
    why = _causal(cause, effect, topology)
    if why is None:
        return None
    if cause.onset is not None and effect.onset is not None:
        if cause.onset > effect.onset + ONSET_TOLERANCE:
            return None
        lead = int((effect.onset - cause.onset).total_seconds() // 60)
        when = (
            f"began at {_fmt(cause.onset)}, {lead} min before these symptoms ({_fmt(effect.onset)})"
            if lead > 0
            else f"began with these symptoms ({_fmt(cause.onset)})"
        )
    elif cause.onset is None and effect.onset is not None:
        return None
    else:
        when = "timing unknown"
    return f"explained by {cause.key} on {cause.component}: it {when}; {why}"


def _about(h: Hypothesis, focus: frozenset[str]) -> bool:
    c = _norm(h.component)
    return any(c == f or c.startswith(f + "-") or f.startswith(c + "-") for f in focus)


def reconcile(
    hypotheses: Sequence[Hypothesis], topology: Topology, focus: Iterable[str] = ()
) -> Reconciled:
    """Assign roles and pick the root cause.

    Args:
        hypotheses: every specialist's proposals, raw scores.
        topology: site hints (which services are the DNS, ...).
        focus: names the alert is about (workload, node, ...), lower-case; used for ranking.

    Returns:
        Hypotheses with ``role``, ``explained_by``, ``reason`` and reconciled ``score``,
        sorted best first; the root (None when nothing has enough evidence).
    """
    max_raw = max((h.score for h in hypotheses), default=0.0)
    strong = [h for h in hypotheses if h.score >= MIN_SCORE]
    weak = [h for h in hypotheses if h.score < MIN_SCORE]

    explained: dict[int, tuple[Hypothesis, str]] = {}
    for i, effect in enumerate(strong):
        best: tuple[Hypothesis, str] | None = None
        for j, cause in enumerate(strong):
            if i == j:
                continue
            reason = _explains(cause, effect, topology)
            if reason is None:
                continue
            if best is None or cause.score > best[0].score:
                best = (cause, reason)
        if best is not None:
            explained[i] = best

    roots = [h for i, h in enumerate(strong) if i not in explained]
    coverage = {id(r): sum(1 for cause, _ in explained.values() if cause is r) for r in roots}
    focus_set = frozenset(_norm(f) for f in focus if f)

    def relevant(r: Hypothesis) -> bool:
        return _about(r, focus_set) or any(
            cause is r and _about(strong[i], focus_set) for i, (cause, _) in explained.items()
        )

    roots.sort(
        key=lambda r: (
            -(
                r.score
                + COVERAGE_BONUS * coverage[id(r)]
                + (RELEVANCE_BONUS if relevant(r) else 0.0)
            )
        )
    )
    root = roots[0] if roots else None

    out: list[Hypothesis] = []
    if root is not None:
        n = coverage[id(root)]
        out.append(
            root.model_copy(
                update={
                    "role": "root_cause",
                    "reason": (
                        f"strongest independent explanation (raw {root.score:.2f})"
                        + (f"; explains {n} other hypothes{'is' if n == 1 else 'es'}" if n else "")
                    ),
                }
            )
        )
    for r in roots[1:]:
        out.append(
            r.model_copy(
                update={
                    "role": "ruled_out",
                    "reason": (
                        f"independent but weaker than {root.key if root else '?'} "
                        f"({r.score:.2f} vs {root.score if root else 0:.2f}) and explains "
                        f"{coverage[id(r)]} other hypotheses; may be a separate, lesser problem"
                    ),
                }
            )
        )
    for i, (cause, reason) in explained.items():
        h = strong[i]
        out.append(
            h.model_copy(
                update={
                    "role": "symptom",
                    "explained_by": cause.key,
                    "reason": f"{reason} (raw {h.score:.2f})",
                    "score": round(h.score * SYMPTOM_DISCOUNT, 3),
                }
            )
        )
    for h in weak:
        out.append(
            h.model_copy(
                update={
                    "role": "ruled_out",
                    "reason": f"too little evidence (score {h.score:.2f} < {MIN_SCORE})",
                }
            )
        )
    order = {"root_cause": 0, "ruled_out": 2, "symptom": 1, "contributing": 1}
    out.sort(key=lambda h: (order[h.role], -h.score))
    runner = roots[1] if len(roots) > 1 else None
    return Reconciled(tuple(out), root, runner, max_raw)
