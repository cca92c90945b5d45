"""The Prometheus query API's ``data.result`` JSON turned into :class:`Sample` / :class:`Series`.

Shared by every source that speaks the ``/api/v1`` wire format: the replay Prometheus, a
live Prometheus-compatible server, and Loki's metric (matrix) queries. It only converts: no
I/O, no clamping to a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tools.errors import QueryError
from tools.metrics.base import Sample, Series


def to_samples(promql: str, result: list[Any]) -> list[Sample]:
    """An instant query's result (vector, scalar or string) as samples.

    Values come as text (``"1.5"``, ``"NaN"``, ``"+Inf"``); ``float()`` reads all of them.

    Raises:
        tools.errors.QueryError: the query yields a string or a range vector.
    """
    if not result:
        return []
    if not isinstance(result[0], dict):  # scalar or string: [ts, "value"]
        try:
            return [Sample(labels={}, value=float(result[1]))]
        except ValueError:
            raise QueryError(f"{promql!r} gives a string, not a number") from None
    if "values" in result[0]:
        raise QueryError(f"{promql!r} is a range vector; use range() or wrap it in a function")
    return [Sample(labels=r["metric"], value=float(r["value"][1])) for r in result]


def to_series(result: list[Any]) -> list[Series]:
    """A range query's result (a matrix) as series, points ascending as the API sends them."""
    return [
        Series(
            labels=r["metric"],
            points=tuple(
                (datetime.fromtimestamp(float(t), tz=UTC), float(v)) for t, v in r["values"]
            ),
        )
        for r in result
    ]
