"""Faults: one small function per root cause in the vocabulary, and the registry of them.

A fault changes a healthy :class:`~tools.scenario.generate.scene.Scene` (values, restart
times, log lines), adds the downstream symptoms it causes in other layers (always
starting after it), picks the alert that fires, and says what the answer is. It never
adds a series family of its own: the baseline renders every family in every scenario.

``carriers`` names the optional sources (``snmp``, ``ssh``, ``logs``) that carry the
fault's primary signal; the generator never drops all of them, unless it deliberately
makes an unanswerable case (and tags it so).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.scenario.generate.scene import Scene


@dataclass(frozen=True)
class Ctx:
    """How loud and when: per-scenario choices a fault receives."""

    rng: random.Random
    hard: bool  # make a downstream symptom louder than the cause (but later)


@dataclass(frozen=True)
class Outcome:
    """What a fault did: the answer, and the alert it made fire."""

    component: str
    explanation: str
    alert: dict[str, Any]
    red_herrings: tuple[str, ...] = ()
    protect: tuple[str, ...] = field(default=())  # components distractors must leave alone


FaultFn = Callable[[Scene, Ctx], Outcome]


@dataclass(frozen=True)
class Fault:
    """One entry of the root-cause vocabulary and how to make it happen."""

    layer: str
    fault: str
    make: FaultFn
    carriers: tuple[str, ...] = ()
    hard: bool = False  # can make a downstream symptom louder than itself (Ctx.hard)


def registry() -> dict[tuple[str, str], Fault]:
    """Every fault, by (layer, fault)."""
    out: dict[tuple[str, str], Fault] = {}
    for name in ("network", "compute", "storage", "dns", "controlplane", "application", "none"):
        module = importlib.import_module(f"{__name__}.{name}")
        for f in module.FAULTS:
            out[(f.layer, f.fault)] = f
    return out
