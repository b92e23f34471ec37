"""A report as the folds read it, once: its slice of the bucket and, for a usage report, its
node and its devices with the values the folds need.

The reading is the one pass over a usage report's message: each accelerator's measured values
are read once (``measured_values``), its peak figures resolved once per model pair, its
validity decided once; the folds then take typed fields. The classifier's view of the period
(``PeriodSignals``) is built from the same values. The readings are named tuples: typed and
immutable like frozen dataclasses, and built at a tenth of their cost, once per accelerator of
every report.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from pausewatch.evaluation.inputs import LoggedReport
from pausewatch.evaluation.intervals import Interval, clip
from pausewatch.evaluation.workload import (
    PeriodSignals,
    drawn_w,
    held_bytes,
    measured_values,
    signals_from_usage,
)
from pausewatch.inventory import DeclaredNode, Inventory
from pausewatch.peaks import (
    UNKNOWN_MODEL_PEAK,
    AcceleratorPeak,
    contradiction,
    either,
    lookup_peak,
    overdrawn_peak,
)
from pausewatch.v1 import types_pb2

__all__ = [
    "EDGE_SKEW_S",
    "INVALID_KINDS",
    "NS_PER_S",
    "DeviceReading",
    "Slice",
    "UsageReader",
    "UsageReading",
    "slice_of",
]

NS_PER_S: Final = 1_000_000_000
# The clock skew the verifier tolerates between a report's clock and its own (``max_clock_skew_s``,
# 120 s by default): ``folds.balance`` reads every edge and step within it, and ``folds.meters``
# a meter's register across a stretch two reports, each within it, bound (``EDGE_SKEW_S`` in
# ``folds.balance`` says why).
EDGE_SKEW_S: Final = 120.0

# Anomalies after which a value is not evidence (of activity or of its absence).
INVALID_KINDS: Final = frozenset(
    {
        types_pb2.ANOMALY_KIND_NAN,
        types_pb2.ANOMALY_KIND_NEGATIVE,
        types_pb2.ANOMALY_KIND_OUT_OF_RANGE,
        types_pb2.ANOMALY_KIND_SOURCE_ERROR,
        types_pb2.ANOMALY_KIND_METRIC_VANISHED,
        types_pb2.ANOMALY_KIND_DEVICE_DISAPPEARED,
    }
)

_NO_KINDS: Final[frozenset[int]] = frozenset()


class Slice(NamedTuple):
    """A report's period cut to the bucket."""

    log_index: int
    part: Interval  # the period's overlap with the bucket
    frac: float  # that overlap's share of the period
    dt_s: float  # the overlap, s
    full_s: float  # the whole period, s


def slice_of(r: LoggedReport, span: Interval) -> Slice | None:
    """``r``'s period cut to ``span``; None when they do not overlap."""
    start, end = r.header.period_start_ns, r.header.period_end_ns
    part = clip((start, end), span)
    if part is None:
        return None
    return Slice(
        r.log_index,
        part,
        (part[1] - part[0]) / (end - start),
        (part[1] - part[0]) / NS_PER_S,
        (end - start) / NS_PER_S,
    )


class DeviceReading(NamedTuple):
    """One accelerator of a usage report: what the inventory declares of it, and its values
    (None: the source did not give the field)."""

    uuid: str
    reported_model: str
    declared_model: str | None  # None: not declared in the inventory
    declared_node_id: str | None  # the node the inventory puts it on
    peak: AcceleratorPeak  # the declared and the reported model's peaks: either of them
    peak_known: bool  # False: neither model is in the table, ``peak`` is its largest
    invalid: bool  # flagged invalid by the source (or no samples): not evidence
    sample_count: int
    energy_j: float | None
    power_mean_w: float | None
    power_max_w: float | None
    power_limit_w: float | None
    power_variance_w2: float | None
    busy_fraction: float | None
    sm_active: float | None
    tensor_active: float | None
    # the board power of ``peak`` where the device drew more than that model can
    # (``pausewatch.peaks.overdrawn``; ``peak`` is then the table's largest), else 0.0
    overdrawn_board_w: float = 0.0
    # the model's name has no tensor units and the device reported tensor-pipe work
    # (``pausewatch.peaks.tensor_without_units``): ``peak`` is then the table's largest as well
    tensorless_claim: bool = False
    # the memory the device held where it is more than the model's boards carry
    # (``pausewatch.peaks.memory_beyond``; ``peak`` is then the table's largest), else 0.0, and
    # that most
    memory_beyond_bytes: float = 0.0
    memory_claim_gib: float = 0.0

    @property
    def model(self) -> str:
        """The declared model, else the reported one."""
        return self.reported_model if self.declared_model is None else self.declared_model


class UsageReading(NamedTuple):
    """One usage report as the folds read it."""

    at: Slice
    usage: types_pb2.UsageReport
    node_id: str  # the node the inventory gives the report's key, else the id the report gives
    declared: DeclaredNode | None  # None: the key is not declared
    subject: str  # ``node:ID``
    node_invalid: bool  # node-level values flagged invalid by the source
    counter_reset: bool  # an energy or traffic counter went backwards
    devices: tuple[DeviceReading, ...]
    signals: PeriodSignals  # the classifier's view of the whole period


class _Declared(NamedTuple):
    """One inventory version, indexed for reading: each declared accelerator's model and node."""

    inventory: Inventory | None
    model: dict[str, str]
    node_of_device: dict[str, str]

    @classmethod
    def of(cls, inventory: Inventory | None) -> _Declared:
        model: dict[str, str] = {}
        node_of_device: dict[str, str] = {}
        for n in inventory.nodes if inventory is not None else ():
            for a in n.accelerators:
                model[a.uuid] = a.model
                node_of_device[a.uuid] = n.node_id
        return cls(inventory, model, node_of_device)


class UsageReader:
    """Reads usage reports against one facility's inventory.

    ``versions``: the facility's inventory versions with the log index of each, in log order
    (``inventory`` is the bucket's, ``bucket_inventory``). A report is read against the version
    logged last before it
    (the first version where it came before them all): a declaration logged after a report
    does not vouch for it, so a card reported for most of a bucket and declared at its end is
    undeclared in the reports before the declaration. Without ``versions`` every report is read
    against ``inventory``.
    """

    def __init__(self, inventory: Inventory | None, versions: Sequence[tuple[int, Inventory]] = ()) -> None:
        self.inventory = inventory
        declared = _Declared.of(inventory)
        self.node_of_device = declared.node_of_device  # declared accelerator -> its declared node
        self._logged = [i for i, _ in versions] if len(versions) > 1 else []
        self._versions = [_Declared.of(v) for _, v in versions] if self._logged else [declared]
        self._peaks: dict[tuple[str, str], tuple[AcceleratorPeak, bool]] = {}

    def _declared(self, log_index: int) -> _Declared:
        """The version logged last before ``log_index`` (the first where none was)."""
        if not self._logged:
            return self._versions[0]
        return self._versions[max(0, bisect.bisect_left(self._logged, log_index) - 1)]

    def _peak_of(self, model: str, reported_model: str) -> tuple[AcceleratorPeak, bool]:
        """The peak of the declared and the reported model — where they name two parts, either
        of them (``pausewatch.peaks.either``: the larger upper figures, the smaller lower bound;
        the denser part's lower bound gave an H100 PCIe declared "NVIDIA H100" the SXM part's, a
        false ``compute.cap_exceeded``, a reviewer's, 2026-12-06) — and whether either is known;
        the table's largest when neither is."""
        key = (model, reported_model)
        cached = self._peaks.get(key)
        if cached is None:
            peaks = [p for p in (lookup_peak(model), lookup_peak(reported_model)) if p is not None]
            if len(peaks) == 2 and peaks[0] is not peaks[1]:
                cached = (either(f"{peaks[0].model} or {peaks[1].model}", *peaks), True)
            elif peaks:
                cached = (peaks[0], True)
            else:
                cached = (UNKNOWN_MODEL_PEAK, False)
            self._peaks[key] = cached
        return cached

    def classifier_values(self, usage: types_pb2.UsageReport, log_index: int) -> list[dict[str, Any]]:
        """Each accelerator's measured values as the classifier reads them: a declared device's
        model is its declaration's (the version in force at ``log_index``), not a name the
        report gives or leaves out; a name that disagrees is an ``inventory.model_mismatch``.
        The periods before a bucket are read so too (``verdict.Evaluator``): judged by the
        report's name there alone, a declared H100 that named no model and no limit lost its
        earlier stalls (a reviewer's, 2026-12-06)."""
        declared_model = self._declared(log_index).model
        out = []
        for acc in usage.accelerators:
            values = measured_values(acc)
            model = declared_model.get(acc.uuid)
            if model is not None:
                values["model"] = model
            out.append(values)
        return out

    def read(self, r: LoggedReport, usage: types_pb2.UsageReport, at: Slice) -> UsageReading:
        h = r.header
        version = self._declared(r.log_index)
        inv = version.inventory
        declared = inv.node_by_key.get(h.key_id) if inv is not None else None
        node_id = declared.node_id if declared is not None else h.subject_id
        anomalies: dict[str, set[int]] = defaultdict(set)
        for a in usage.anomalies:
            anomalies[a.device_uuid].add(a.kind)
        node_invalid = bool(anomalies.get("", set()) & INVALID_KINDS)
        devices = []
        all_values = self.classifier_values(usage, r.log_index)
        declared_model, node_of_device, peak_of = version.model, version.node_of_device, self._peak_of
        for acc, values in zip(usage.accelerators, all_values, strict=True):
            uuid = acc.uuid
            decl_model = declared_model.get(uuid)
            reported_model = acc.model
            peak, known = peak_of(reported_model if decl_model is None else decl_model, reported_model)
            samples = acc.sample_count
            get = values.get
            tensor = get("tensor_active")
            over_board, tensorless, beyond, claim_gib = 0.0, False, 0.0, 0.0
            if known:
                held = held_bytes(values)
                why = contradiction(peak, drawn_w(values, at.full_s), tensor, held)
                if why is not None:
                    if why == "power":
                        over_board = peak.board_power_w
                    elif why == "tensor":
                        tensorless = True
                    else:
                        beyond, claim_gib = held or 0.0, peak.memory_gib or 0.0
                    peak, known = overdrawn_peak(peak), False
            devices.append(
                DeviceReading(  # positional, in the order of the fields: a third of the cost
                    uuid,
                    reported_model,
                    decl_model,
                    node_of_device.get(uuid),
                    peak,
                    known,
                    node_invalid
                    or (bool(anomalies) and bool(anomalies.get(uuid, _NO_KINDS) & INVALID_KINDS))
                    or samples == 0,
                    samples,
                    get("energy_j"),
                    get("power_mean_w"),
                    get("power_max_w"),
                    get("power_limit_w"),
                    get("power_variance_w2"),
                    get("busy_fraction"),
                    get("sm_active"),
                    tensor,
                    over_board,
                    tensorless,
                    beyond,
                    claim_gib,
                )
            )
        return UsageReading(
            at=at,
            usage=usage,
            node_id=node_id,
            declared=declared,
            subject=f"node:{node_id}",
            node_invalid=node_invalid,
            counter_reset=any(types_pb2.ANOMALY_KIND_COUNTER_RESET in kinds for kinds in anomalies.values()),
            devices=tuple(devices),
            signals=PeriodSignals(h.period_start_ns, h.period_end_ns, signals_from_usage(usage, all_values)),
        )
