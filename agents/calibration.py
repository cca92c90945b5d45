"""Confidence: from the reconciliation's raw scores to the number a report shows.

This first cut is a plain, monotone score (no fitting yet): the root's support,
discounted by how close the best competing independent explanation comes. A
fitted mapping (see the evaluation harness) replaces it without changing callers.
"""

from __future__ import annotations

from agents.reconcile import Reconciled

ABSTAIN_BELOW = 0.3
"""Below this confidence the report says "abstained" rather than naming a cause."""

NO_FAULT_PRIOR = 0.85
"""Confidence in "nothing is broken" when no specialist saw anything abnormal at all."""


def confidence(result: Reconciled) -> float:
    """Probability-like confidence in the reconciled root cause (or in no fault)."""
    if result.root is None:
        # Weak, sub-threshold findings make "nothing is broken" less certain.
        return round(max(0.0, NO_FAULT_PRIOR * (1.0 - result.max_raw_score)), 3)
    top = result.root.score
    runner = result.runner_up.score if result.runner_up else 0.0
    margin = (top - runner) / top if top > 0 else 0.0
    return round(top * (0.6 + 0.4 * margin), 3)
