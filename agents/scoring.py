"""Scoring a diagnosis against a scenario's ground truth.

This is the only code that reads ground truth; detectors and prompts never do.
Layer and fault compare exactly, component leniently (case-insensitive; a pod name
matches its workload, "sw1" matches "sw1 port 3").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.models import Diagnosis
from agents.workload import workload_name

_SEP = re.compile(r"[\s:/]+")


@dataclass(frozen=True)
class Score:
    """How a diagnosis compares with the truth."""

    layer_fault: bool
    component: bool

    @property
    def correct(self) -> bool:
        """Layer, fault and component all right."""
        return self.layer_fault and self.component


def _forms(name: str) -> set[str]:
    n = name.strip().lower()
    first = _SEP.split(n)[0] if n else n
    return {n, first, *(workload_name(x, ordinals=False) for x in (n, first))}


def component_matches(got: str, expected: str) -> bool:
    """Lenient component comparison (see module docstring)."""
    return bool(_forms(got) & _forms(expected))


def score(diagnosis: Diagnosis, layer: str, fault: str, component: str) -> Score:
    """Compare ``diagnosis`` with the expected ``layer``/``fault``/``component``.

    An abstained or failed diagnosis is never correct.
    """
    rc = diagnosis.root_cause
    if diagnosis.verdict != "diagnosed" or rc is None:
        return Score(False, False)
    lf = rc.layer == layer and rc.fault == fault
    return Score(lf, lf and component_matches(rc.component, component))
