"""Job accounting: each declared scheduler's signed accounting of the bucket, and the usage
reports of the declared nodes it corroborates, judged by ``pausewatch.evaluation.jobs``.

Only where the inventory declares a scheduler; findings ``jobs.*``, never a VIOLATION."""

from __future__ import annotations

from collections import defaultdict

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import Finding
from pausewatch.evaluation.folds.reading import UsageReading
from pausewatch.evaluation.intervals import Interval
from pausewatch.evaluation.jobs import AccountingPeriod, accounting_findings
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2

__all__ = ["AccountingFold"]


class AccountingFold:
    """Folds the schedulers' accounting reports and the usage reports they account for."""

    def __init__(self, commitment: Commitment, inventory: Inventory | None, span: Interval) -> None:
        self.max_gap_ns = commitment.reporting.max_gap_ns
        self.schedulers = inventory.schedulers if inventory is not None else ()
        self.span = span
        self._accounting: dict[str, list[AccountingPeriod]] = defaultdict(list)
        self._usage: list[tuple[int, types_pb2.UsageReport]] = []  # (log index, report), as jobs reads them

    def add_usage(self, reading: UsageReading) -> None:
        """A usage report, kept where a scheduler is declared and the report's key is."""
        if reading.declared is not None and self.schedulers:
            self._usage.append((reading.at.log_index, reading.usage))

    def add(self, scheduler_id: str, log_index: int, report: types_pb2.AccountingReport) -> None:
        """One report of the declared scheduler ``scheduler_id``."""
        self._accounting[scheduler_id].append(AccountingPeriod(log_index, report))

    def finish(self) -> list[Finding]:
        """Each declared scheduler's findings (none where the inventory declares none)."""
        out: list[Finding] = []
        for scheduler in self.schedulers:
            out += accounting_findings(
                scheduler,
                self._accounting.get(scheduler.scheduler_id, []),
                self._usage,
                self.span,
                max_gap_ns=self.max_gap_ns,
            )
        return out
