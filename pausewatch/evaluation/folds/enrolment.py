"""Who reported, from where, and when: each report's key against the inventory, the place it
reports from, its lateness, its period's length, and the accelerators a node reports.

Findings: ``inventory.unknown_device``, ``inventory.wrong_location``, ``inventory.model_mismatch``
(a device reported as another part than declared), ``continuity.late`` and
``continuity.gap`` (a report period longer than the commitment's maximum report interval),
flagged into the ``IntegrityFold``."""

from __future__ import annotations

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import INFO, WARNING, FindingId
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.reading import NS_PER_S, Slice, UsageReading
from pausewatch.evaluation.inputs import LoggedReport
from pausewatch.peaks import same_part

__all__ = ["Enrolment"]


class Enrolment:
    """Checks each report of one (facility, bucket) against the facility's inventory."""

    def __init__(
        self, commitment: Commitment, facility_id: str, previous_log_size: int | None, flags: IntegrityFold
    ) -> None:
        self.facility_id = facility_id
        self.previous_log_size = previous_log_size
        self.max_report_interval_ns = commitment.reporting.max_report_interval_ns
        self.flags = flags

    def _late(self, r: LoggedReport, at: Slice, subject: str) -> None:
        h = r.header
        lag_ns = h.signed_ns - h.period_end_ns
        late_by_log = self.previous_log_size is not None and r.log_index >= self.previous_log_size
        if late_by_log or lag_ns > self.max_report_interval_ns:
            self.flags.flag(
                FindingId.CONTINUITY_LATE,
                INFO,
                subject,
                at,
                "report delivered after its bucket was evaluated or long after its period",
                quantities={"signed_after_period_end_s": (max(0, lag_ns) / NS_PER_S, "s")},
            )

    def usage(self, r: LoggedReport, reading: UsageReading) -> None:
        """A node's report: its lateness, its key, its place, its period, its accelerators."""
        h = r.header
        at, subject, declared = reading.at, reading.subject, reading.declared
        declared_id = declared.node_id if declared is not None else None
        self._reporter(
            r,
            at,
            subject,
            declared_id,
            undeclared=f"reports from attestor key not declared in the inventory (node {h.subject_id!r})",
            elsewhere=f"the key of {declared_id!r} in {self.facility_id!r} reported as node"
            f" {h.subject_id!r} in facility {h.facility_id!r}",
        )
        if h.period_end_ns - h.period_start_ns > self.max_report_interval_ns:
            self.flags.flag(
                FindingId.CONTINUITY_GAP,
                WARNING,
                subject,
                at,
                "report period longer than the commitment's maximum report interval",
                quantities={"period_s": (at.full_s, "s")},
            )
        node_id = reading.node_id
        for d in reading.devices:
            if d.declared_model is None:
                self.flags.flag(
                    FindingId.INVENTORY_UNKNOWN_DEVICE,
                    WARNING,
                    f"device:{d.uuid}",
                    at,
                    f"accelerator not declared in the inventory on node {node_id!r}",
                )
            elif declared_id is not None and d.declared_node_id != declared_id:
                self.flags.flag(
                    FindingId.INVENTORY_WRONG_LOCATION,
                    WARNING,
                    f"device:{d.uuid}",
                    at,
                    f"accelerator declared on another node reported by {node_id!r}",
                )
            declared_model, reported_model = d.declared_model, d.reported_model
            # a source that names no model (a DCGM exporter without modelName) agrees with any
            if not reported_model or declared_model is None or same_part(declared_model, reported_model):
                continue
            self.flags.flag(
                FindingId.INVENTORY_MODEL_MISMATCH,
                WARNING,
                f"device:{d.uuid}",
                at,
                f"reported as model {reported_model[:60]!r}, declared as {declared_model[:60]!r}:"
                " classified as declared, bounded as either part",
            )

    def enrolled(self, r: LoggedReport, at: Slice, noun: str, declared_id: str | None) -> str:
        """The subject of a meter's or a scheduler's report (``noun``), after its lateness, its
        key's declaration (``declared_id``: the id the inventory gives the key, None: not
        declared) and the place it reports from are flagged."""
        h = r.header
        subject = f"{noun}:{declared_id if declared_id is not None else h.subject_id}"
        self._reporter(
            r,
            at,
            subject,
            declared_id,
            undeclared=f"{noun} key not declared in the inventory ({noun} {h.subject_id!r})",
            elsewhere=f"{noun} {declared_id!r} reported as {h.subject_id!r} in {h.facility_id!r}",
        )
        return subject

    def _reporter(
        self,
        r: LoggedReport,
        at: Slice,
        subject: str,
        declared_id: str | None,
        *,
        undeclared: str,
        elsewhere: str,
    ) -> None:
        """A report's lateness; its key not declared (``undeclared``: the message), or declared
        for ``declared_id`` in this facility and reporting as another id or from another
        facility (``elsewhere``)."""
        h = r.header
        self._late(r, at, subject)
        if declared_id is None:
            self.flags.flag(FindingId.INVENTORY_UNKNOWN_DEVICE, WARNING, f"key:{h.key_id}", at, undeclared)
        elif h.subject_id != declared_id or h.facility_id != self.facility_id:
            self.flags.flag(FindingId.INVENTORY_WRONG_LOCATION, WARNING, subject, at, elsewhere)
