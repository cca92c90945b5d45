"""A specialist's probes as AutoGen tools the model may call, with typed arguments.

The model never writes a query language: it fills typed fields (metric name, label
matchers, a function and a range; a log stream's app, substrings, a regex; a
device and an object name; a host and a command line) and the tool renders
PromQL and LogQL with escaping (:mod:`tools.metrics.promql`, :mod:`tools.logs.logql`).
Commands pass the read-only SSH allow-list (:func:`tools.ssh.allowlist.parse_command`)
before anything is asked of a host; a refused command is reported back and counted,
never run. Every probe goes through the specialist's :class:`ProbeContext`, so it is
recorded as Evidence like a baseline probe, and what the model reads back is a
redacted, delimited, truncated excerpt of it.

Nothing here writes to a source, and no text the tools return is treated as an
instruction by Strata.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from autogen_core.tools import FunctionTool

from agents.specialist import ProbeContext
from tools.metrics.promql import selector
from tools.redact import quote_data
from tools.snmp import oids
from tools.ssh.allowlist import CommandRefused, parse_command

__all__ = ["ProbeTools", "snmp_object"]

_BY_NAME = {name.lower(): oid for oid, name in oids.NAMES.items()}
_OID = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")


def snmp_object(name: str) -> str | None:
    """The numeric OID of a known object name (``ifInErrors``) or a dotted OID, else None."""
    text = name.strip()
    if _OID.match(text):
        return text
    return _BY_NAME.get(text.lower())


def short_id(eid: str) -> str:
    """``network.e3`` -> ``e3``: the id a prompt shows."""
    return eid.rsplit(".", 1)[-1]


@dataclass
class ProbeTools:
    """The tools of one specialist's investigation, bound to its context and step budget."""

    ctx: ProbeContext
    steps: int
    output_chars: int = 600
    used: int = 0
    refused: int = 0
    ran: int = 0
    refusals: list[str] = field(default_factory=list)

    def _spend(self) -> str | None:
        if self.used >= self.steps:
            return "refused: the probe budget of this investigation is spent; answer now"
        self.used += 1
        return None

    def _refuse(self, why: str) -> str:
        self.refused += 1
        self.refusals.append(why)
        return f"refused: {why}"

    def _result(self, eid: str) -> str:
        self.ran += 1
        ev = next(e for e in self.ctx.evidence if e.id == eid)
        head = f"evidence {short_id(eid)} [{ev.status}] {ev.query}"
        return head + "\n" + quote_data(ev.excerpt, self.output_chars)

    async def query_metric(
        self,
        metric: Annotated[str, "Prometheus metric name, e.g. node_network_receive_drop_total"],
        labels: Annotated[dict[str, str] | None, "label equality matchers"] = None,
        function: Annotated[
            Literal["value", "rate", "increase"], "value as is, or per-second rate / increase"
        ] = "value",
        range_minutes: Annotated[int, "range for rate/increase, minutes (1-60)"] = 5,
    ) -> str:
        """Query one metric over the incident window (typed parts, rendered to PromQL)."""
        if (spent := self._spend()) is not None:
            return spent
        try:
            sel = selector(metric, **(labels or {}))
        except ValueError as exc:
            return self._refuse(str(exc))
        minutes = max(1, min(60, int(range_minutes)))
        promql = sel if function == "value" else f"{function}({sel}[{minutes}m])"
        _, eid = await self.ctx.metric_range(promql)
        return self._result(eid)

    async def query_logs(
        self,
        app: Annotated[str, "the log stream's app label, e.g. coredns, kubelet, kernel"],
        contains: Annotated[str, "keep lines containing this text (optional)"] = "",
        regex: Annotated[str, "keep lines matching this regular expression (optional)"] = "",
    ) -> str:
        """Read log lines of one app over the incident window (rendered to LogQL)."""
        if (spent := self._spend()) is not None:
            return spent
        if regex:
            try:
                re.compile(regex)
            except re.error as exc:
                return self._refuse(f"invalid regex: {exc}")
        query = self.ctx.log_query(
            {"app": app}, *([contains] if contains else []), regex=regex or None
        )
        _, eid = await self.ctx.logs(query)
        return self._result(eid)

    async def snmp_get(
        self,
        device: Annotated[str, "switch name, e.g. sw1"],
        object_name: Annotated[str, "object name (dot1dStpTopChanges, sysUpTime) or dotted OID"],
    ) -> str:
        """Read one SNMP object from a switch at the diagnosis clock."""
        if (spent := self._spend()) is not None:
            return spent
        oid = snmp_object(object_name)
        if oid is None:
            return self._refuse(f"unknown SNMP object {object_name!r}")
        _, eid = await self.ctx.snmp_get(device, [oid])
        return self._result(eid)

    async def snmp_walk(
        self,
        device: Annotated[str, "switch name, e.g. sw1"],
        object_name: Annotated[str, "table column name (ifInErrors, ifOperStatus) or OID"],
    ) -> str:
        """Walk one SNMP table column (every port) of a switch at the diagnosis clock."""
        if (spent := self._spend()) is not None:
            return spent
        oid = snmp_object(object_name)
        if oid is None:
            return self._refuse(f"unknown SNMP object {object_name!r}")
        _, eid = await self.ctx.snmp_walk(device, oid)
        return self._result(eid)

    async def run_command(
        self,
        host: Annotated[str, "node name, e.g. node-2"],
        command: Annotated[str, "a read-only diagnostic command, e.g. 'df -h' or 'uptime'"],
    ) -> str:
        """Run one allow-listed, read-only diagnostic command on a node."""
        if (spent := self._spend()) is not None:
            return spent
        try:
            parse_command(command)
        except CommandRefused as exc:
            return self._refuse(f"command not on the read-only allow-list: {exc.message}")
        _, eid = await self.ctx.ssh(host, command)
        return self._result(eid)

    def tools(self) -> list[FunctionTool]:
        """The tools for the sources this incident has (absent sources are not offered)."""
        sources = self.ctx.sources
        offered: list[tuple[Callable[..., Awaitable[str]], bool]] = [
            (self.query_metric, sources.metrics is not None),
            (self.query_logs, sources.logs is not None),
            (self.snmp_get, sources.snmp is not None),
            (self.snmp_walk, sources.snmp is not None),
            (self.run_command, sources.ssh is not None),
        ]
        return [
            FunctionTool(fn, description=(fn.__doc__ or "").strip(), name=fn.__name__)
            for fn, present in offered
            if present
        ]
