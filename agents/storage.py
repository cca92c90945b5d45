"""The storage specialist: filesystems, inodes, disk latency, volume provisioning, I/O errors.

It runs the storage rows of docs/signals.md as a fixed, deterministic probe plan (a few
aggregated PromQL range queries, three log queries, and ``df`` over SSH on an implicated
node as corroboration), turns what it sees into findings and proposes storage hypotheses:
disk_full, inode_exhaustion, slow_disk, provisioner_failure and io_errors.

It must not decide what is a symptom of what across layers (a full disk that makes the
kubelet evict pods is reported here; the coordinator links it to compute's eviction). It
never keys on scenario names or ground truth, never runs anything but read-only ``df``,
and uses the alert's labels only to rank what it found and to pick where to run ``df``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from agents.compute import score_of
from agents.models import Finding, Hypothesis
from agents.signals import clamp01, finite, hhmm, longest_run
from agents.specialist import ProbeContext, Specialist
from agents.workload import focus_names, node_name, workload_name
from tools.logs.base import LogQuery, LogRecord
from tools.metrics.base import Series
from tools.metrics.promql import selector

# Thresholds (docs/signals.md, storage). Change them there and here together.
FS_FREE_THRESHOLD = 0.10
"""Free fraction of a filesystem (avail / size) at or below which it is full."""
FS_PREDICT_WINDOW = "30m"
"""``predict_linear`` lookback."""
FS_PREDICT_HORIZON_S = 4 * 3600
"""``predict_linear`` horizon: projected to fill within this many seconds."""
FS_PROJECTION_MAX_FREE = 0.40
"""A fill projection counts only while the filesystem has less than this free (node-mixin's
NodeFilesystemSpaceFillingUp): a 30-minute lookback still "projects" a fill after the disk
was emptied again."""
FS_EXCLUDED_FSTYPES = ("tmpfs", "overlay", "squashfs", "devtmpfs", "ramfs", "nsfs", "fuse.lxcfs")
"""Virtual filesystems that are never "the disk"."""
FS_FILLING_DROP = 0.05
"""A fall of the free fraction this large within the window counts as actively filling."""
INODE_FREE_THRESHOLD = 0.10
"""Free fraction of inodes (files_free / files) at or below which they are exhausted."""
FSYNC_P99_THRESHOLD_S = 0.5
"""etcd WAL fsync p99 (seconds) at or above which the disk is slow (etcd wants < 10 ms)."""
FSYNC_SEVERE_S = 2.0
"""fsync p99 at which the finding is as strong as it gets."""
DISK_BUSY_THRESHOLD = 0.9
"""``rate(node_disk_io_time_seconds_total)``: fraction of time the device was busy."""
DISK_BUSY_MIN_S = 300.0
"""How long a device must stay saturated to propose slow_disk (shorter: a weak finding)."""
DISK_EXCLUDED_DEVICES = "loop.*|ram.*|sr.*|fd.*"
"""Pseudo block devices."""
PVC_PENDING_MIN_S = 120.0
"""How long a claim must stay Pending to count (provisioning takes seconds)."""
ENOSPC_UNEXPLAINED_STRENGTH = 0.3
"""'no space left on device' lines on a node whose bytes and inodes both look fine (a quota,
a tmpfs): too weak for a hypothesis alone."""
DF_FULL_PERCENT = 90
"""``df`` Use% (or IUse%) at or above which SSH corroborates a full filesystem."""
DF_MAX_NODES = 2
"""Most nodes ``df`` runs on."""

_PROVISIONER_ERRORS = (
    r"failed to provision|ProvisioningFailed|error syncing claim|create process timeout"
    r"|failed to create volume|failed to delete volume"
)
_DISK_LINES = (
    r"(?i)I/O error|EXT4-fs error|XFS \(\S+\):.*error|blk_update_request|input/output error"
    r"|no space left on device|Remounting filesystem read-only"
)
_ETCD_SLOW = r"slow fdatasync|wal: sync duration of"
_CLAIM = re.compile(r'(?:claim|provision) "([^"]+)"|Name:"([^"]+)"')
_DF_ROW = re.compile(r"^(?P<fs>\S+)\s+\S+\s+\S+\s+\S+\s+(?P<use>\d+)%\s+(?P<mnt>/\S*)\s*$")


def _fstype_filter() -> tuple[str, str, str]:
    return ("fstype", "!~", "|".join(re.escape(t) for t in FS_EXCLUDED_FSTYPES))


@dataclass(frozen=True)
class _Fill:
    """One filesystem's free fraction over the window (bytes or inodes)."""

    node: str
    device: str
    mountpoint: str
    first: float
    low: float
    last: float
    onset: datetime | None


class StorageSpecialist(Specialist):
    """Filesystems and disks: fill, inodes, latency, provisioning and I/O errors."""

    layer: ClassVar[str] = "storage"
    description_text: ClassVar[str] = (
        "Investigates filesystems and disks: space and inode exhaustion, fsync latency, "
        "saturated devices, volume provisioning failures and kernel I/O errors."
    )

    async def probe(self, ctx: ProbeContext) -> None:
        """Run the storage baseline plan, in a fixed order (evidence ids stay stable)."""
        space = await self._filesystem_fill(ctx)
        await self._fill_projection(ctx, space)
        inodes = await self._inodes(ctx)
        await self._fsync(ctx)
        await self._disk_busy(ctx)
        await self._pending_claims(ctx)
        await self._provisioner_lines(ctx)
        await self._provisioner_pods(ctx)
        await self._disk_lines(ctx, space, inodes)
        await self._etcd_lines(ctx)
        await self._df(ctx)

    # -- filesystems ------------------------------------------------------------------

    def _fills(self, series: Sequence[Series]) -> list[_Fill]:
        """Per (node, device), the filesystem with the lowest free fraction."""
        best: dict[tuple[str, str], _Fill] = {}
        for s in series:
            pts = finite(s.points)
            if not pts:
                continue
            node = node_name(s.labels.get("instance", "?"), self._incident.topology)
            device = s.labels.get("device", "")
            mount = s.labels.get("mountpoint", "?")
            low = min(v for _, v in pts)
            start, _ = longest_run(pts, FS_FREE_THRESHOLD, above=False)
            fill = _Fill(node, device, mount, pts[0][1], low, pts[-1][1], start)
            have = best.get((node, device))
            if (
                have is None
                or fill.low < have.low
                or (fill.low == have.low and len(mount) < len(have.mountpoint))
            ):
                best[(node, device)] = fill
        return sorted(best.values(), key=lambda f: (f.low, f.node, f.mountpoint))

    async def _filesystem_fill(self, ctx: ProbeContext) -> list[_Fill]:
        """Findings for full filesystems; returns every filesystem's fill (for ENOSPC lines)."""
        fs = _fstype_filter()
        avail = selector("node_filesystem_avail_bytes", fs)
        size = selector("node_filesystem_size_bytes", fs)
        series, eid = await ctx.metric_range(f"{avail} / ({size} > 0)")
        fills = self._fills(series)
        for f in fills:
            if f.low > FS_FREE_THRESHOLD:
                continue
            filling = f.first - f.low >= FS_FILLING_DROP
            trend = f" (was {f.first:.0%} at {hhmm(ctx.start)})" if filling else ""
            strength = 0.6 + 0.35 * clamp01((FS_FREE_THRESHOLD - f.low) / FS_FREE_THRESHOLD)
            ctx.add_finding(
                f"{f.node}:{f.mountpoint} {f.low:.1%} free{trend}, ≤ {FS_FREE_THRESHOLD:.0%} "
                f"since {hhmm(f.onset)}",
                [eid],
                strength + (0.05 if filling else 0.0),
                kind="fs_full",
                component=f.node,
                onset=f.onset,
            )
        return fills

    async def _fill_projection(self, ctx: ProbeContext, fills: list[_Fill]) -> None:
        free_now = {(f.node, f.mountpoint): f.last for f in fills}
        avail = selector("node_filesystem_avail_bytes", _fstype_filter())
        series, eid = await ctx.metric_range(
            f"predict_linear({avail}[{FS_PREDICT_WINDOW}], {FS_PREDICT_HORIZON_S}) < 0"
        )
        done: set[str] = set()
        for s in sorted(series, key=lambda s: s.points[0][0] if s.points else ctx.end):
            pts = finite(s.points)
            node = node_name(s.labels.get("instance", "?"), self._incident.topology)
            if len(pts) < 2 or node in done:  # one projected sample is noise
                continue
            mount = s.labels.get("mountpoint", "?")
            if free_now.get((node, mount), 0.0) >= FS_PROJECTION_MAX_FREE:
                continue
            done.add(node)
            hours = FS_PREDICT_HORIZON_S / 3600
            ctx.add_finding(
                f"{node}:{mount} projected to fill within {hours:g} h "
                f"(predict_linear over {FS_PREDICT_WINDOW}, since {hhmm(pts[0][0])})",
                [eid],
                0.5 + 0.1 * clamp01(len(pts) / 20),
                kind="fs_filling",
                component=node,
                onset=pts[0][0],
            )

    async def _inodes(self, ctx: ProbeContext) -> list[_Fill]:
        """Findings for exhausted inodes; returns every filesystem's inode fill."""
        fs = _fstype_filter()
        free = selector("node_filesystem_files_free", fs)
        files = selector("node_filesystem_files", fs)
        series, eid = await ctx.metric_range(f"{free} / ({files} > 0)")
        fills = self._fills(series)
        for f in fills:
            if f.low > INODE_FREE_THRESHOLD:
                continue
            ctx.add_finding(
                f"{f.node}:{f.mountpoint} {f.low:.1%} of inodes free "
                f"(was {f.first:.0%} at {hhmm(ctx.start)})",
                [eid],
                0.6 + 0.35 * clamp01((INODE_FREE_THRESHOLD - f.low) / INODE_FREE_THRESHOLD),
                kind="inodes_exhausted",
                component=f.node,
                onset=f.onset,
            )
        return fills

    # -- latency ----------------------------------------------------------------------

    async def _fsync(self, ctx: ProbeContext) -> None:
        buckets = selector("etcd_disk_wal_fsync_duration_seconds_bucket")
        series, eid = await ctx.metric_range(
            f"histogram_quantile(0.99, sum by (instance, le) (rate({buckets}[5m])))"
        )
        for s in sorted(series, key=lambda s: s.labels.get("instance", "")):
            pts = finite(s.points)
            start, length = longest_run(pts, FSYNC_P99_THRESHOLD_S)
            if start is None or length < ctx.step_s:  # at least two samples in a row
                continue
            node = node_name(s.labels.get("instance", "?"), self._incident.topology)
            peak = max(v for _, v in pts)
            span = (FSYNC_SEVERE_S - FSYNC_P99_THRESHOLD_S) or 1.0
            ctx.add_finding(
                f"etcd on {node}: WAL fsync p99 {_dur(peak)} (≥ {_dur(FSYNC_P99_THRESHOLD_S)} "
                f"for {length / 60:.0f} min since {hhmm(start)}; etcd wants < 10 ms)",
                [eid],
                0.6 + 0.35 * clamp01((peak - FSYNC_P99_THRESHOLD_S) / span),
                kind="slow_fsync",
                component=node,
                onset=start,
            )

    async def _disk_busy(self, ctx: ProbeContext) -> None:
        io = selector("node_disk_io_time_seconds_total", ("device", "!~", DISK_EXCLUDED_DEVICES))
        series, eid = await ctx.metric_range(f"rate({io}[2m])")
        worst: dict[str, tuple[float, datetime, str]] = {}
        for s in series:
            start, length = longest_run(finite(s.points), DISK_BUSY_THRESHOLD)
            if start is None or length < ctx.step_s:
                continue
            node = node_name(s.labels.get("instance", "?"), self._incident.topology)
            if length > worst.get(node, (-1.0, start, ""))[0]:
                worst[node] = (length, start, s.labels.get("device", "?"))
        for node, (length, start, device) in sorted(worst.items()):
            sustained = length >= DISK_BUSY_MIN_S
            ctx.add_finding(
                f"{node}:{device} busy ≥ {DISK_BUSY_THRESHOLD:.0%} of the time for "
                f"{length / 60:.0f} min since {hhmm(start)}",
                [eid],
                0.55 + 0.25 * clamp01((length - DISK_BUSY_MIN_S) / 900) if sustained else 0.25,
                kind="disk_saturated" if sustained else "disk_busy",
                component=node,
                onset=start,
            )

    # -- volumes ----------------------------------------------------------------------

    async def _pending_claims(self, ctx: ProbeContext) -> None:
        # Every phase series, not just Pending == 1: when kube-state-metrics' data begins
        # (its scrape offset) tells a claim Pending all along from one that became Pending.
        series, eid = await ctx.metric_range(
            "max by (namespace, persistentvolumeclaim, phase) "
            f"({selector('kube_persistentvolumeclaim_status_phase')})"
        )
        begins = min((s.points[0][0] for s in series if s.points), default=ctx.start)
        pending = [s for s in series if s.labels.get("phase") == "Pending"]
        for s in sorted(pending, key=lambda s: s.labels.get("persistentvolumeclaim", "")):
            pts = [(t, v) for t, v in finite(s.points) if v == 1]
            if not pts:
                continue
            claim = f"{s.labels.get('namespace', '?')}/{s.labels.get('persistentvolumeclaim', '?')}"
            length = (pts[-1][0] - pts[0][0]).total_seconds()
            if length < PVC_PENDING_MIN_S:
                continue
            # A claim Pending all along may simply wait for its first consumer.
            was_not = any(v == 0 for t, v in finite(s.points) if t < pts[0][0])
            new = was_not or (pts[0][0] - begins).total_seconds() > 1.5 * ctx.step_s
            since = f"since {hhmm(pts[0][0])}" if new else "all window"
            ctx.add_finding(
                f"PVC {claim} Pending for {length / 60:.0f} min ({since})",
                [eid],
                0.5 if new else 0.25,
                kind="pvc_pending",
                component=claim,
                onset=pts[0][0] if new else None,
            )

    async def _provisioner_lines(self, ctx: ProbeContext) -> None:
        query = LogQuery.model_validate(
            {
                "matchers": [{"label": "app", "op": "=~", "value": ".*provisioner.*"}],
                "filters": [{"op": "|~", "value": _PROVISIONER_ERRORS}],
                "start": ctx.start,
                "end": ctx.end,
            }
        )
        records, eid = await ctx.logs(query)
        by_app: dict[str, list[LogRecord]] = defaultdict(list)
        for r in records:
            by_app[r.labels.get("app", "provisioner")].append(r)
        for app, lines in sorted(by_app.items()):
            claims = sorted({m[1] or m[2] for r in lines if (m := _CLAIM.search(r.line))})
            about = f" for {', '.join(claims[:3])}" if claims else ""
            first = min(r.ts for r in lines)
            ctx.add_finding(
                f"{app}: {len(lines)} provisioning error(s){about} since {hhmm(first)}",
                [eid],
                min(0.85, 0.65 + 0.05 * len(lines)),
                kind="provisioner_errors",
                component=app,
                onset=first,
            )

    async def _provisioner_pods(self, ctx: ProbeContext) -> None:
        """Claims stuck Pending and no provisioner logs to read: which provisioner runs here?

        When exactly one provisioner workload runs, it is the one failing to provision (its
        pods are what kube-state-metrics lists with a container named ``*provisioner*``).
        """
        if not ctx.findings_of("pvc_pending") or ctx.findings_of("provisioner_errors"):
            return
        restarts = selector(
            "kube_pod_container_status_restarts_total", ("container", "=~", ".*provisioner.*")
        )
        series, eid = await ctx.metric_instant(f"count by (namespace, pod) ({restarts})")
        names = sorted({workload_name(s.labels.get("pod", ""), "") for s in series} - {""})
        if len(names) != 1:
            return
        ctx.add_finding(
            f"{names[0]} is the only volume provisioner running (no provisioner logs to read)",
            [eid],
            0.3,
            kind="provisioner_workload",
            component=names[0],
        )

    # -- logs -------------------------------------------------------------------------

    async def _disk_lines(
        self, ctx: ProbeContext, space: Sequence[_Fill], inodes: Sequence[_Fill]
    ) -> None:
        query = LogQuery.model_validate(
            {
                "matchers": [{"label": "app", "op": "=~", "value": ".+"}],
                "filters": [{"op": "|~", "value": _DISK_LINES}],
                "start": ctx.start,
                "end": ctx.end,
            }
        )
        records, eid = await ctx.logs(query)
        enospc: dict[str, list[LogRecord]] = defaultdict(list)
        io: dict[str, list[LogRecord]] = defaultdict(list)
        for r in records:
            host = r.labels.get("host") or r.labels.get("node") or r.labels.get("app", "?")
            if "no space left on device" in r.line.lower():
                enospc[host].append(r)
            else:
                io[host].append(r)
        for host, lines in sorted(enospc.items()):
            apps = sorted({r.labels.get("app", "?") for r in lines})
            first = min(r.ts for r in lines)
            cause, why = _enospc_cause(host, space, inodes)
            ctx.add_finding(
                f"{host}: 'no space left on device' ×{len(lines)} ({', '.join(apps[:4])}) "
                f"since {hhmm(first)}{why}",
                [eid],
                min(0.85, 0.65 + 0.02 * len(lines)) if cause else ENOSPC_UNEXPLAINED_STRENGTH,
                kind="enospc_inode_lines" if cause == "inodes" else "enospc_lines",
                component=host,
                onset=first,
            )
        for host, lines in sorted(io.items()):
            first = min(r.ts for r in lines)
            ctx.add_finding(
                f"{host}: {len(lines)} I/O error line(s) since {hhmm(first)}: "
                f"{lines[0].line[:120]}",
                [eid],
                min(0.9, 0.65 + 0.03 * len(lines)),
                kind="io_error_lines",
                component=host,
                onset=first,
            )

    async def _etcd_lines(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "etcd"}, regex=_ETCD_SLOW))
        by_host: dict[str, list[LogRecord]] = defaultdict(list)
        for r in records:
            by_host[r.labels.get("host") or r.labels.get("pod", "etcd")].append(r)
        for host, lines in sorted(by_host.items()):
            first = min(r.ts for r in lines)
            ctx.add_finding(
                f"etcd on {host}: {len(lines)} slow WAL sync line(s) since {hhmm(first)}",
                [eid],
                min(0.75, 0.5 + 0.03 * len(lines)),
                kind="etcd_slow_sync_lines",
                component=host,
                onset=first,
            )

    # -- SSH corroboration ------------------------------------------------------------

    async def _df(self, ctx: ProbeContext) -> None:
        """``df -h`` / ``df -i`` on the nodes the evidence (or, lacking any, the alert) names."""
        focus = focus_names(self._incident.labels)
        wanted: list[tuple[str, str, str | None]] = []  # (node, flag, mountpoint)
        for kinds, flag in (
            (("fs_full", "fs_filling", "enospc_lines"), "-h"),
            (("inodes_exhausted", "enospc_inode_lines"), "-i"),
        ):
            for f in sorted(
                ctx.findings_of(*kinds), key=lambda f: (f.component or "").lower() not in focus
            ):
                if f.component and all(w[0] != f.component or w[1] != flag for w in wanted):
                    wanted.append((f.component, flag, _mount_of(f.summary)))
        if not wanted and not _has_fs_data(ctx):
            node = self._incident.labels.get("node") or node_name(
                self._incident.labels.get("instance", ""), self._incident.topology
            )
            if node and self._sources.ssh is not None and node in self._sources.ssh.hosts():
                wanted.append((node, "-h", None))
        for node, flag, mount in wanted[:DF_MAX_NODES]:
            result, eid = await ctx.ssh(node, f"df {flag}")
            if result.status != "ok" or not result.stdout:
                continue
            row = _df_fullest(result.stdout, mount)
            if row is None or row[1] < DF_FULL_PERCENT:
                continue
            what = "inodes used" if flag == "-i" else "used"
            ctx.add_finding(
                f"df {flag} on {node}: {row[0]} {row[1]}% {what}",
                [eid],
                0.55 + 0.35 * clamp01((row[1] - DF_FULL_PERCENT) / (100 - DF_FULL_PERCENT)),
                kind="df_inodes_full" if flag == "-i" else "df_full",
                component=node,
            )

    # -- hypotheses -------------------------------------------------------------------

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """One hypothesis per (fault, component) with a strong enough finding behind it."""
        focus = focus_names(self._incident.labels)
        fault_of = {
            "fs_full": "disk_full",
            "fs_filling": "disk_full",
            "enospc_lines": "disk_full",
            "df_full": "disk_full",
            "inodes_exhausted": "inode_exhaustion",
            "enospc_inode_lines": "inode_exhaustion",
            "df_inodes_full": "inode_exhaustion",
            "slow_fsync": "slow_disk",
            "disk_saturated": "slow_disk",
            "disk_busy": "slow_disk",
            "etcd_slow_sync_lines": "slow_disk",
            "pvc_pending": "provisioner_failure",
            "provisioner_errors": "provisioner_failure",
            "io_error_lines": "io_errors",
        }
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in ctx.findings:
            fault = fault_of.get(f.kind)
            if fault and f.component:
                groups[(fault, f.component)].append(f)
        # Pending claims and provisioner errors name different things (claim, provisioner):
        # one provisioner_failure, about the provisioner when its logs speak.
        claims = [f for f in ctx.findings_of("pvc_pending") if f.onset is not None]
        errors = ctx.findings_of("provisioner_errors")
        running = ctx.findings_of("provisioner_workload")
        named_by = errors[:1] or running[:1]
        if claims and named_by:
            for f in claims:
                groups.pop(("provisioner_failure", f.component or ""), None)
            groups[("provisioner_failure", named_by[0].component or "")] += claims
        out: list[Hypothesis] = []
        for (fault, component), findings in groups.items():
            # A weak signal alone (brief disk busy, a long-Pending claim) is no hypothesis.
            if max(f.strength for f in findings) < 0.45:
                continue
            score = score_of(findings, component.lower() in focus)
            # the running provisioner only names the component; it adds no support
            cites = [*findings, *(f for f in running if f.component == component)]
            out.append(ctx.hypothesis(fault, component, cites, score))
        return sorted(out, key=lambda h: (-h.score, h.fault, h.component))


def _enospc_cause(
    node: str, space: Sequence[_Fill], inodes: Sequence[_Fill]
) -> tuple[str | None, str]:
    """What a node's ENOSPC lines mean: ("space" | "inodes" | None, a note for the summary).

    The kernel answers ENOSPC both when blocks and when inodes run out, so the lines
    follow whichever the metrics show low on that node: inodes when some filesystem has
    ≤ ``INODE_FREE_THRESHOLD`` inodes free while its bytes are above
    ``FS_FREE_THRESHOLD``; when both run low, the scarcer one. No metrics for the node:
    "space", ENOSPC's usual meaning. Metrics with neither low: None (unexplained).
    """
    mine = [f for f in space if f.node == node]
    bytes_of = {f.device: f.low for f in mine}
    low_space = [f.low for f in mine if f.low <= FS_FREE_THRESHOLD]
    low_inodes = [
        f.low
        for f in inodes
        if f.node == node
        and f.low <= INODE_FREE_THRESHOLD
        and bytes_of.get(f.device, 1.0) > FS_FREE_THRESHOLD
    ]
    if low_inodes and (not low_space or min(low_inodes) < min(low_space)):
        return "inodes", f"; inodes are exhausted ({min(low_inodes):.1%} free), not bytes"
    if low_space:
        return "space", ""
    if mine or any(f.node == node for f in inodes):
        return None, "; neither bytes nor inodes are low there"
    return "space", ""


def _dur(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mount_of(summary: str) -> str | None:
    m = re.match(r"^\S+?:(/\S*)", summary)
    return m[1] if m else None


def _has_fs_data(ctx: ProbeContext) -> bool:
    return any(e.status == "ok" and "node_filesystem" in e.query for e in ctx.evidence)


def _df_fullest(stdout: str, mountpoint: str | None) -> tuple[str, int] | None:
    """(mountpoint, Use%) of ``mountpoint``'s row, or of the fullest real filesystem."""
    rows: list[tuple[str, int]] = []
    for line in stdout.splitlines()[1:]:
        m = _DF_ROW.match(line.strip())
        if m and m["fs"] not in FS_EXCLUDED_FSTYPES:
            rows.append((m["mnt"], int(m["use"])))
    if mountpoint is not None:
        for row in rows:
            if row[0] == mountpoint:
                return row
    return max(rows, key=lambda r: r[1], default=None)
