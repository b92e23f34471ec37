"""Coverage: which stretches of the bucket each declared node and accelerator is covered by
valid reports, and the continuity and inventory findings of what is not.

Findings: ``continuity.gap`` (a gap at the bucket's start is measured from the node's last
report before it, ``lead_in``), ``continuity.timeout``, ``continuity.coverage`` (every gap
summed) and ``inventory.missing``. ``tolerate`` lowers them to INFO where the commitment's
``min_inventory_coverage`` excuses the silent hardware and a meter proves it computed nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import INFO, WARNING, Finding, FindingId
from pausewatch.evaluation.folds.reading import NS_PER_S, UsageReading
from pausewatch.evaluation.intervals import Interval, uncovered
from pausewatch.inventory import DeclaredAccelerator, DeclaredNode, Inventory

__all__ = ["Coverage", "CoverageFold", "DeviceCoverage", "tolerate"]

# Coverage findings that ``min_inventory_coverage`` < 1 may excuse — only while the meters show
# that the uncovered hardware drew nothing the reports do not explain.
_TOLERABLE: Final = frozenset(
    {
        FindingId.CONTINUITY_GAP,
        FindingId.CONTINUITY_TIMEOUT,
        FindingId.CONTINUITY_COVERAGE,
        FindingId.INVENTORY_MISSING,
    }
)


@dataclass(frozen=True, slots=True)
class DeviceCoverage:
    """One declared accelerator over the bucket."""

    node_id: str
    uuid: str
    model: str  # as declared
    uncovered_ns: int  # every gap in its valid values, summed
    full: bool  # covered throughout, without a finding


@dataclass(frozen=True)
class Coverage:
    """The coverage findings (in inventory order, unsorted) and every declared accelerator's
    coverage (none without an inventory)."""

    findings: tuple[Finding, ...]
    devices: tuple[DeviceCoverage, ...]


def _gap(subject: str, span: Interval, gap_ns: int, message: str, evidence: Sequence[int]) -> Finding:
    """``continuity.gap``: ``subject`` silent for ``gap_ns`` (which may reach back before ``span``)."""
    return Finding.make(
        FindingId.CONTINUITY_GAP,
        WARNING,
        subject,
        span,
        message,
        {"gap_s": (gap_ns / NS_PER_S, "s")},
        evidence,
    )


@dataclass
class _NodeCover:
    cover: list[Interval] = field(default_factory=list)  # every usage report's slice
    seen: set[str] = field(default_factory=set)  # accelerators in any report
    evidence: list[int] = field(default_factory=list)  # the log indices of its reports


class CoverageFold:
    """Folds the usage reports of one (facility, bucket) into node and device coverage."""

    def __init__(self, commitment: Commitment, span: Interval, lead_in: Mapping[str, int]) -> None:
        """``lead_in``: per node, the end of its last report period before the bucket."""
        self.commitment = commitment
        self.span = span
        self.lead_in = lead_in
        self._nodes: dict[str, _NodeCover] = defaultdict(_NodeCover)
        self._devices: dict[str, list[Interval]] = defaultdict(list)  # valid values only

    def add(self, reading: UsageReading) -> None:
        node = self._nodes[reading.node_id]
        part = reading.at.part
        node.evidence.append(reading.at.log_index)
        node.cover.append(part)
        for d in reading.devices:
            if not d.invalid:
                self._devices[d.uuid].append(part)
            node.seen.add(d.uuid)

    def evidence_of(self, node_id: str) -> Sequence[int]:
        """The log indices of a node's usage reports in the bucket, in log order."""
        node = self._nodes.get(node_id)
        return node.evidence if node is not None else ()

    def finish(self, inventory: Inventory | None, facility_id: str) -> Coverage:
        if inventory is None:
            missing = Finding.make(
                FindingId.INVENTORY_MISSING,
                WARNING,
                f"facility:{facility_id}",
                self.span,
                "no signed inventory for this facility: nothing can be proven",
            )
            return Coverage((missing,), ())
        findings: list[Finding] = []
        devices: list[DeviceCoverage] = []
        for n in inventory.nodes:
            node = self._nodes.get(n.node_id) or _NodeCover()
            node_full = self._node(n.node_id, node, findings)
            self._silent_node(n, node, findings)
            node_gaps = uncovered(node.cover, self.span)
            devices.extend(
                self._device(n, acc, node, node_full=node_full, node_gaps=node_gaps, findings=findings)
                for acc in n.accelerators
            )
        return Coverage(tuple(findings), tuple(devices))

    def _node(self, node_id: str, node: _NodeCover, findings: list[Finding]) -> bool:
        """Gap and timeout findings of one declared node; whether it is covered throughout.

        A gap that begins at the bucket's start is measured from the end of the node's last
        report before the bucket (``lead_in``), so cutting a silence at a bucket edge does not
        shorten it."""
        span = self.span
        rep = self.commitment.reporting
        timeout_ns = rep.timeout_intervals * rep.max_report_interval_ns
        full = True
        for a, b in uncovered(node.cover, span):
            length = b - a
            since = a
            if a == span[0]:
                last = self.lead_in.get(node_id)
                if last is not None and last <= a:
                    since = max(last, self.commitment.window_start_ns)
            full_length = b - since
            subject = f"node:{node_id}"
            if b == span[1] and length >= timeout_ns:
                findings.append(
                    Finding.make(
                        FindingId.CONTINUITY_TIMEOUT,
                        WARNING,
                        subject,
                        (a, b),
                        f"attestor silent for {full_length / NS_PER_S:.0f} s"
                        f" (≥ {rep.timeout_intervals} report intervals) at the bucket's end",
                        {"silent_s": (full_length / NS_PER_S, "s")},
                        node.evidence[-1:],
                    )
                )
                full = False
            elif full_length > rep.max_gap_ns:
                findings.append(
                    _gap(
                        subject,
                        (a, b),
                        full_length,
                        f"no reports for {full_length / NS_PER_S:.0f} s"
                        + (f" ({length / NS_PER_S:.0f} s of it in this bucket)" if since < a else ""),
                        node.evidence[-1:],
                    )
                )
                full = False
        return full

    def _silent_node(self, n: DeclaredNode, node: _NodeCover, findings: list[Finding]) -> None:
        """A declared node with accelerators and no valid report in the bucket at all."""
        rep = self.commitment.reporting
        if not node.cover and n.accelerators and rep.min_time_coverage > 0:
            findings.append(
                Finding.make(
                    FindingId.CONTINUITY_COVERAGE,
                    WARNING,
                    f"node:{n.node_id}",
                    self.span,
                    f"no valid report in the bucket: covered 0 % of it, under the commitment's"
                    f" minimum {rep.min_time_coverage:.1%}",
                    {
                        "covered_fraction": (0.0, "1"),
                        "uncovered_s": ((self.span[1] - self.span[0]) / NS_PER_S, "s"),
                        "min_time_coverage": (rep.min_time_coverage, "1"),
                    },
                )
            )

    def _device(
        self,
        n: DeclaredNode,
        acc: DeclaredAccelerator,
        node: _NodeCover,
        *,
        node_full: bool,
        node_gaps: Sequence[Interval],
        findings: list[Finding],
    ) -> DeviceCoverage:
        """One declared accelerator's findings: absent from its node's reports, its own gaps
        (those its node's gaps do not contain) and its summed coverage."""
        span = self.span
        rep = self.commitment.reporting
        bucket_s = (span[1] - span[0]) / NS_PER_S
        gaps = uncovered(self._devices.get(acc.uuid, []), span)
        uncovered_ns = sum(b - a for a, b in gaps)
        full = node_full
        subject = f"device:{acc.uuid}"
        if node.cover and acc.uuid not in node.seen:
            findings.append(
                Finding.make(
                    FindingId.INVENTORY_MISSING,
                    WARNING,
                    subject,
                    span,
                    f"declared accelerator absent from every report of node {n.node_id!r}",
                    None,
                    node.evidence,
                )
            )
            return DeviceCoverage(n.node_id, acc.uuid, acc.model, uncovered_ns, False)
        own = [g for g in gaps if not any(ga <= g[0] and g[1] <= gb for ga, gb in node_gaps)]
        for a, b in own:
            if b - a > rep.max_gap_ns:
                findings.append(
                    _gap(
                        subject,
                        (a, b),
                        b - a,
                        f"device not covered by valid values for {(b - a) / NS_PER_S:.0f} s",
                        node.evidence,
                    )
                )
                full = False
        missing_s = uncovered_ns / NS_PER_S
        share = 1.0 - missing_s / bucket_s if bucket_s > 0 else 1.0
        if node.cover and share < rep.min_time_coverage and missing_s > 0:
            findings.append(
                Finding.make(
                    FindingId.CONTINUITY_COVERAGE,
                    WARNING,
                    subject,
                    span,
                    f"device covered by valid values for {share:.1%} of the bucket, under the"
                    f" commitment's minimum {rep.min_time_coverage:.1%} (every gap summed)",
                    {
                        "covered_fraction": (share, "1"),
                        "uncovered_s": (missing_s, "s"),
                        "min_time_coverage": (rep.min_time_coverage, "1"),
                    },
                    node.evidence,
                )
            )
            full = False
        return DeviceCoverage(n.node_id, acc.uuid, acc.model, uncovered_ns, full)


def tolerate(
    findings: Sequence[Finding],
    devices: Sequence[DeviceCoverage],
    min_inventory_coverage: float,
    node_of_device: Mapping[str, str],
    proven: Collection[str],
) -> list[Finding]:
    """``findings`` with the coverage findings of the nodes whose accelerators are not covered
    throughout lowered to INFO, where at least ``min_inventory_coverage`` (< 1) of the declared
    accelerators is covered throughout and a meter proves the node computed nothing while
    uncovered; the caller asks only when the meters balance.

    Tolerated by the commitment, and only for the nodes in ``proven``: those a meter proves
    drew no more than idle boards while uncovered (``balance.proven_quiet``). Silence is never
    evidence, but a silent node that the meters show powered down is not hiding work.
    Recorded, and still counted at peak in the upper bound."""
    full = sum(d.full for d in devices)
    if not (devices and full / len(devices) >= min_inventory_coverage and min_inventory_coverage < 1.0):
        return list(findings)
    tolerable = {d.node_id for d in devices if not d.full} & set(proven)

    def node_of(subject: str) -> str:
        kind, _, name = subject.partition(":")
        return node_of_device.get(name, "") if kind == "device" else name

    return [
        Finding(f.id, INFO, f.subject, f.start_ns, f.end_ns, f.message, f.quantities, f.evidence)
        if f.subject.startswith(("node:", "device:"))
        and f.id in _TOLERABLE
        and node_of(f.subject) in tolerable
        else f
        for f in findings
    ]
