"""Generate varied, realistic scenario-format-v1 incidents for every fault in the vocabulary.

    generate(seed=7, count=60, out=Path("/tmp/gen"))   # -> 60 scenario directories

Each scenario is a fresh random site (:mod:`.site`) over a 30-45 minute window on a
random date, with normal telemetry and noise (:mod:`.baseline`), one fault with its
downstream symptoms (:mod:`.faults`), one or two mild distractors (:mod:`.distractors`)
and the alert that fired (:mod:`.alerts`). About 1 in 15 is a noisy alert with nothing
broken, about 1 in 10 is a hard case (a downstream layer louder than the cause, starting
later), and sources go missing at random (15 % no SNMP, 15 % no SSH, 5 % no logs), never
the only carrier of the fault's primary signal unless the case is deliberately
unanswerable (tagged ``unanswerable``).

Same seed, same bytes: every number comes from ``random.Random`` streams derived from
the seed, the scenario's index and a purpose. Names never leak the answer: ids and
directories are ``g<seed>-<index>-<hash>``, titles name the alert, tags say nothing
about layer or fault; only ``scenario.yaml``'s ``ground_truth`` holds the answer.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate import baseline
from tools.scenario.generate.distractors import add_distractors
from tools.scenario.generate.faults import Ctx, registry
from tools.scenario.generate.scene import Scene, new_scene
from tools.scenario.generate.site import random_site

__all__ = ["NO_FAULT_EVERY", "Built", "build", "generate", "plan", "scenario_id", "write_one"]

NO_FAULT_EVERY = 15
"""One scenario in each block of this many is a no-fault alert."""
HARD_SHARE = 0.10
MISSING = (("snmp", 0.15), ("ssh", 0.15), ("logs", 0.05))
UNANSWERABLE_SHARE = 0.02
MIN_WINDOW_S = 30 * 60
MAX_WINDOW_S = 45 * 60
EPOCH = w.to_unix("2024-01-01T00:00:00Z")

Progress = Callable[[int, int, Path], None]


def scenario_id(seed: int, index: int) -> str:
    """The neutral id (and directory name) of scenario ``index`` of run ``seed``."""
    digest = hashlib.sha256(f"strata-gen/{seed}/{index}".encode()).hexdigest()[:6]
    return f"g{seed}-{index:04d}-{digest}"


def plan(seed: int, count: int) -> list[tuple[str, str]]:
    """(layer, fault) of each scenario: the faults in shuffled rounds, so that any
    ``count`` of at least twice the vocabulary holds every fault, and one no-fault alert
    at a random place in each block of :data:`NO_FAULT_EVERY`."""
    faults = sorted(k for k in registry() if k != ("none", "no_fault"))
    out: list[tuple[str, str]] = []
    cycle: list[tuple[str, str]] = []
    rounds = 0
    for i in range(count):  # the plan of a longer run starts with the plan of a shorter one
        block, pos = divmod(i, NO_FAULT_EVERY)
        if pos == w.derive_rng(f"g{seed}", "plan", "no-fault", block).randrange(NO_FAULT_EVERY):
            out.append(("none", "no_fault"))
            continue
        if not cycle:
            cycle = list(faults)
            w.derive_rng(f"g{seed}", "plan", "round", rounds).shuffle(cycle)
            rounds += 1
        out.append(cycle.pop())
    return out


def generate(
    seed: int, count: int, out: Path, progress: Progress | None = None, *, workers: int = 1
) -> list[Path]:
    """Write ``count`` scenarios under ``out`` (created if needed); their directories, in order.

    ``workers`` > 1 builds them in that many processes; the bytes do not depend on it.
    """
    out.mkdir(parents=True, exist_ok=True)
    faults = plan(seed, count)
    jobs = [(seed, i, faults[i], str(out)) for i in range(count)]
    paths: list[Path] = []
    if workers <= 1:
        for i, job in enumerate(jobs):
            paths.append(_build(job))
            if progress is not None:
                progress(i + 1, count, paths[-1])
        return paths
    with ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1)) as pool:
        for i, path in enumerate(pool.map(_build, jobs, chunksize=4)):
            paths.append(path)
            if progress is not None:
                progress(i + 1, count, path)
    return paths


def _build(job: tuple[int, int, tuple[str, str], str]) -> Path:
    seed, index, fault, out = job
    return write_one(seed, index, fault, Path(out))


@dataclass(frozen=True)
class Built:
    """One scenario in memory: what ``write_one`` writes."""

    meta: dict[str, Any]
    alert: dict[str, Any]
    recording: baseline.Recording
    dropped: frozenset[str]


def build(seed: int, index: int, fault: tuple[str, str]) -> Built:
    """Scenario ``index`` of run ``seed`` with ``fault``, in memory."""
    key = f"g{seed}/{index}"
    rng = w.derive_rng(key, "meta")
    site = random_site(w.derive_rng(key, "site"))
    start = float(int(EPOCH + rng.uniform(0, 700) * 86400))
    # Faults play out over the longest window; the recording then ends a little after the
    # alert fired (the diagnosis clock), 30-45 minutes after its start.
    scene = new_scene(key, site, start, start + MAX_WINDOW_S)
    spec = registry()[fault]
    hard = spec.hard and rng.random() < _hard_share()
    outcome = spec.make(scene, Ctx(w.derive_rng(key, "fault"), hard))
    avoid = {outcome.component, fault[0], *outcome.red_herrings, *outcome.protect}
    add_distractors(scene, w.derive_rng(key, "distractors"), avoid)
    fired = w.to_unix(outcome.alert["alerts"][0]["startsAt"])
    end = start + 60 * rng.randint(MIN_WINDOW_S // 60, MAX_WINDOW_S // 60)
    if fired + 60 > end:
        end = min(start + MAX_WINDOW_S, float(int(fired + rng.uniform(60, 300))))
    scene.end = end
    rec = baseline.render(scene)
    dropped = _missing(rng, spec.carriers)
    unanswerable = bool(spec.carriers) and rng.random() < UNANSWERABLE_SHARE
    if unanswerable:
        dropped |= set(spec.carriers)
    tags = ["generated"] + (["hard"] if hard else []) + (["unanswerable"] if unanswerable else [])
    meta: dict[str, Any] = {
        "schema_version": 1,
        "id": scenario_id(seed, index),
        "title": _title(outcome.alert["alerts"][0]["labels"]),
        "observed_at": w.rfc3339(end),
        "window": {"start": w.rfc3339(start), "end": w.rfc3339(end)},
        "topology": _topology(scene),
        "ground_truth": {
            "layer": fault[0],
            "fault": fault[1],
            "component": outcome.component,
            "explanation": outcome.explanation,
            "red_herrings": [h for h in dict.fromkeys(outcome.red_herrings) if h != fault[0]],
        },
        "tags": tags,
    }
    return Built(meta, outcome.alert, rec, frozenset(dropped))


def write_one(seed: int, index: int, fault: tuple[str, str], out: Path) -> Path:
    """Build scenario ``index`` of run ``seed`` with ``fault`` and write it under ``out``."""
    b = build(seed, index, fault)
    d = out / str(b.meta["id"])
    d.mkdir(parents=True, exist_ok=True)
    for stale in d.iterdir():
        stale.unlink()
    w.write_scenario_yaml(d / "scenario.yaml", b.meta)
    w.write_alert(d / "alert.json", b.alert)
    b.recording.om.write(d / "metrics.om")
    for name, rows in (
        ("logs", b.recording.logs),
        ("snmp", b.recording.snmp),
        ("ssh", b.recording.ssh),
    ):
        if name not in b.dropped and rows:
            w.write_jsonl(d / f"{name}.jsonl", rows)
    return d


@functools.cache
def _hard_share() -> float:
    """Chance that a fault able to make a hard case makes one, so that about
    :data:`HARD_SHARE` of the faulty scenarios are hard."""
    faults = [f for k, f in registry().items() if k != ("none", "no_fault")]
    return min(1.0, HARD_SHARE * len(faults) / max(1, sum(f.hard for f in faults)))


def _missing(rng: Any, carriers: tuple[str, ...]) -> set[str]:
    """Sources absent from this recording, never every carrier of the primary signal."""
    dropped: set[str] = set()
    for source, share in MISSING:
        if rng.random() < share:
            left = [c for c in carriers if c not in dropped | {source}]
            if carriers and not left:
                continue
            dropped.add(source)
    return dropped


def _title(labels: dict[str, str]) -> str:
    """What the alert is about, in the words of its labels (never the answer)."""
    name = labels.get("alertname", "Alert")
    for key in ("pod", "node", "instance", "job"):
        if labels.get(key):
            return f"{name} for {labels[key]}"
    return f"{name} on cluster {labels.get('cluster', '')}".strip()


def _topology(scene: Scene) -> dict[str, Any]:
    site = scene.site
    pods = sorted(
        (p.pod for p in scene.pods if p.pod.ip and (p.deleted is None or p.deleted > scene.start)),
        key=lambda p: (p.namespace, p.name),
    )
    return {
        "nodes": [
            {"name": n.name, "address": n.ip, "switch": n.switch, "port": n.port}
            for n in site.nodes
        ],
        "switches": [{"name": s.name, "address": s.ip} for s in site.switches],
        "services": [
            {"name": site.dns_service, "namespace": "kube-system", "kind": "dns"},
            {"name": "kube-apiserver", "namespace": "default", "kind": "apiserver"},
            {"name": "etcd", "namespace": "kube-system", "kind": "etcd"},
            {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "kind": "ingress"},
            *({"name": wl.name, "namespace": wl.namespace, "kind": "app"} for wl in site.exposed),
        ],
        "pods": [
            {"name": p.name, "namespace": p.namespace, "ip": p.ip, "node": p.node} for p in pods
        ],
    }
