"""The metrics interface every backend (recorded replay, live Prometheus) implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Sample(BaseModel):
    """One element of an instant vector."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str] = Field(description="Series labels (``__name__`` included if kept).")
    value: float = Field(description="Sample value.")


class Series(BaseModel):
    """One series of a range query result."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str] = Field(description="Series labels.")
    points: tuple[tuple[datetime, float], ...] = Field(description="(time, value), ascending.")

    @property
    def values(self) -> list[float]:
        """Just the values, in time order."""
        return [v for _, v in self.points]


class MetricsSource(Protocol):
    """PromQL queries. Implementations never return data after their clock's ``now``."""

    async def instant(self, promql: str, at: datetime) -> list[Sample]:
        """Evaluate ``promql`` at ``at``.

        Raises:
            tools.errors.QueryError: the server rejected the query.
            tools.errors.SourceUnavailable: the server cannot be reached.
        """
        ...

    async def range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        """Evaluate ``promql`` over ``[start, end]`` every ``step_s`` seconds."""
        ...
