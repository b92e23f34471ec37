"""The energy each node reports: its BMC's where it has one, else its accelerators' and its
CPU package's (RAPL), and the stretches of the bucket that energy covers.

A period counts towards a node's energy only when every accelerator gave valid energy (or mean
power) and the node-level values are valid; a BMC reading carries the period on its own unless
the node-level values are invalid. Finding: ``plausibility.power_activity`` (a BMC below the
sum of its accelerators).

The power the reports show (``bounded_j``, what a power cap is held to) counts each
accelerator's energy at most at ``BOARD_OVERDRAW`` times its board's power over its period: a
GPU's energy counter read all at once on its return to the bus holds the hours it was off the
bus, not one period's power (an honest-fleet hunt of rules/19: with no intake meter reading
that bucket, or only a PDU's, a fleet under its power cap was a VIOLATION on its reports)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from pausewatch.evaluation.findings import WARNING, FindingId
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.reading import UsageReading
from pausewatch.evaluation.intervals import Cumulative, Interval
from pausewatch.peaks import BOARD_OVERDRAW

__all__ = ["NodeEnergy", "NodeEnergyFold"]


@dataclass
class NodeEnergy:
    """One node's reported energy in the bucket."""

    cover: list[Interval] = field(default_factory=list)  # the slices its energy covers
    terms: list[float] = field(default_factory=list)  # J, summed with ``math.fsum``
    energies: list[float] = field(default_factory=list)  # J per slice of ``cover``, aligned
    bounded: list[float] = field(default_factory=list)  # the same, each board's at its most


class NodeEnergyFold:
    """Folds each node's usage reports into the energy it reports."""

    def __init__(self, flags: IntegrityFold) -> None:
        self.flags = flags
        self._nodes: dict[str, NodeEnergy] = defaultdict(NodeEnergy)
        self._cumulative: Cumulative | None = None  # every node's, once read (``reported_between``)
        self._bounded: Cumulative | None = None  # the same of ``bounded`` (``bounded_between``)

    def add(self, reading: UsageReading) -> None:
        at = reading.at
        self._cumulative = self._bounded = None
        node = self._nodes[reading.node_id]
        energy_ok = not reading.node_invalid
        accelerators: list[float] = []
        most: list[float] = []  # each accelerator's most: its board's power over the period
        for d in reading.devices:
            if d.energy_j is not None and d.energy_j >= 0 and not d.invalid:
                accelerators.append(d.energy_j * at.frac)
            elif d.power_mean_w is not None and not d.invalid:
                accelerators.append(d.power_mean_w * at.dt_s)
            else:
                energy_ok = False
                continue
            board_w = d.overdrawn_board_w or d.peak.board_power_w
            most.append(min(accelerators[-1], BOARD_OVERDRAW * board_w * at.dt_s))
        terms: list[float] = []
        bounded: list[float] = []
        nu = reading.usage.node
        if nu.HasField("bmc_energy_j") and nu.bmc_energy_j >= 0:
            terms.append(nu.bmc_energy_j * at.frac)
            bounded.append(terms[-1])  # the node's own meter: no board's counter in it
            acc_sum = math.fsum(accelerators)
            if nu.bmc_energy_j * at.frac < 0.9 * acc_sum:
                self.flags.flag(
                    FindingId.PLAUSIBILITY_POWER_ACTIVITY,
                    WARNING,
                    reading.subject,
                    at,
                    "node BMC energy is below the sum of its accelerators' energy",
                    quantities={
                        "bmc_energy_j": (nu.bmc_energy_j * at.frac, "J"),
                        "accelerator_energy_j": (acc_sum, "J"),
                    },
                )
            energy_ok = energy_ok or not reading.node_invalid
        else:
            terms.extend(accelerators)
            bounded.extend(most)
            if nu.HasField("rapl_energy_j") and nu.rapl_energy_j >= 0:
                terms.append(nu.rapl_energy_j * at.frac)
                bounded.append(terms[-1])
        if energy_ok:
            node.cover.append(at.part)
            node.terms.extend(terms)
            node.energies.append(math.fsum(terms))
            node.bounded.append(math.fsum(bounded))

    def node(self, node_id: str) -> NodeEnergy | None:
        """A node's energy; None when it sent no usage report in the bucket."""
        return self._nodes.get(node_id)

    def _summed(self, bounded: bool) -> Cumulative:
        """Every node's ``energies`` (or ``bounded``) over its ``cover``."""
        parts = [
            part
            for node in self._nodes.values()
            for part in zip(node.cover, node.bounded if bounded else node.energies, strict=True)
        ]
        return Cumulative(parts, min((a for (a, _), _ in parts), default=0))

    def reported_between(self, window: Interval) -> float:
        """Σ the energy every node reported in ``window``, each period's pro rata of its time
        inside, J."""
        if self._cumulative is None:
            self._cumulative = self._summed(bounded=False)
        return self._cumulative.between(*window)

    def reported_j(self) -> float:
        """Σ the energy every node reported, declared or not, J."""
        return math.fsum(t for node in self._nodes.values() for t in node.terms)

    def bounded_between(self, window: Interval) -> float:
        """``reported_between`` with each accelerator's energy at most its board's power over its
        period (the module's ``bounded_j``), J."""
        if self._bounded is None:
            self._bounded = self._summed(bounded=True)
        return self._bounded.between(*window)

    def bounded_j(self) -> float:
        """``reported_j`` with each accelerator's energy at most its board's power over its
        period, J: the power the reports show."""
        return math.fsum(e for node in self._nodes.values() for e in node.bounded)
