"""Where a meter's readings count in a bucket whose inventory versions changed its meters.

A bucket is held to the versions in force over it (``pausewatch.evaluation.verdict.in_force``),
each for its stretch of the bucket: from the log time before it (the newest challenge logged
before it) to the next one's. A meter reading counts under what its key was declared to measure
*at the time it read* — the version in force over the reading's middle — not under what the
bucket's own (last) version says the key measures: two meters that traded places mid-bucket, each
declared at once, had each one's readings before the swap counted in the other's scope, and an
honest fleet was a VIOLATION (a red team, 2026-12-05).

A declaration's readings are one *measurement* with a meter of the bucket's version when it
measures the same scope (scope, nodes, feed):

1. the one of the same name (a meter re-keyed, or meters that traded places: the name follows
   the scope);
2. else the one of the same key (a meter renamed);
3. else the one meter new to the bucket (not in the version in force at its start) measuring
   that scope (a meter swapped for a new one, or moved elsewhere and replaced);
4. else the one of the same key, whatever its scope (a meter re-declared in place: two PDU
   meters declared as the two feeds of the intake they sum to);
5. else a measurement of its own, in the scope that version declared (a meter dropped, or one
   whose scope another meter of the version now measures): what it read while declared there
   is read there, under a name no meter of the bucket's version has.

Within one version no two declarations share a measurement (each rule takes only what the rules
before it left), so no stretch of a scope is counted twice.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pausewatch.inventory import DeclaredMeter, Inventory
from pausewatch.v1 import types_pb2

__all__ = ["MeterRoutes", "meter_routes", "same_scope", "stretch_starts"]


def same_scope(a: DeclaredMeter, b: DeclaredMeter) -> bool:
    """Whether two declarations measure the same thing: scope, nodes (any for the intake), feed."""
    nodes = a.scope == types_pb2.METER_SCOPE_FACILITY or a.node_ids == b.node_ids
    return a.scope == b.scope and nodes and a.feed == b.feed


def stretch_starts(
    spanned: Sequence[tuple[int, Inventory]], span: tuple[int, int], time_at: Callable[[int], int | None]
) -> list[int]:
    """When each version in force in a bucket (``spanned``) took over, by the log's clock: the
    first at the bucket's start, each later one at the newest challenge logged before it,
    clamped to the bucket and never before the one before it."""
    start, end = span
    starts = [start]
    for index, _ in spanned[1:]:
        t = time_at(index)
        starts.append(min(end, max(starts[-1], start if t is None else t)))
    return starts


@dataclass(frozen=True)
class MeterRoutes:
    """A bucket's meter declarations over time, and the measurement each one's readings count
    under (the module's docstring)."""

    # per key: when each of its declarations took over, in time order, and each declaration
    # with its measurement
    by_key: Mapping[str, tuple[tuple[int, ...], tuple[tuple[DeclaredMeter, str], ...]]]
    # declarations whose measurement the bucket's version has no meter for, named as measured,
    # each as the last version that declared it had it
    departed: tuple[DeclaredMeter, ...]
    # per stretch of the bucket (zero-length ones left out): its fraction of the bucket, the
    # version, that version's meter id → measurement, and the stretch's start and end by the
    # log's clock. The fixed load, band and meter
    # accuracy a bucket is held to are these fractions' means (``folds.balance``): a version
    # logged in a bucket's last minute declared its fixed load, band or accuracy for the whole
    # bucket, and hid a load that ran all of it (a red team, 2026-12-05: a fixed load declared
    # at 1h59 and withdrawn at 2h01 hid a training node in bucket 1h30, COMPLIANT); a reduction
    # declared as the load went off made the load before it unexplained, VIOLATION
    stretches: tuple[tuple[float, Inventory, Mapping[str, str], tuple[int, int]], ...]

    def route(self, key_id: str, at_ns: int) -> tuple[DeclaredMeter, str] | None:
        """The declaration in force for ``key_id`` at ``at_ns``, and its measurement: the newest
        taking over at or before then (before the key's first, its first: a meter that read a
        moment before its version was logged); None for a key no version in force declared."""
        routes = self.by_key.get(key_id)
        if routes is None:
            return None
        starts, entries = routes
        return entries[max(0, bisect.bisect_right(starts, at_ns) - 1)]

    def accuracies(self, measured: str, fallback: float) -> list[tuple[float, float]]:
        """(fraction of the bucket, declared accuracy) of the measurement ``measured`` in each
        stretch: the declaration counted under it then, or ``fallback`` (what it was declared
        at where no version of that stretch had it)."""
        out = []
        for w, v, ids, _ in self.stretches:
            theirs = next((m.accuracy for m in v.meters if ids.get(m.meter_id) == measured), fallback)
            out.append((w, theirs))
        return out


def _joins(v: Inventory, final: Inventory, before: set[str]) -> dict[str, str]:
    """Version ``v``'s meter ids joined to a meter of the bucket's version ``final`` by rules
    1-4 of the module's docstring, each rule in turn over the declarations the rules before it
    left, each meter of ``final`` taken once; ``before``: the meter ids in force at the
    bucket's start (rule 3's "new to the bucket")."""
    final_by_id = {m.meter_id: m for m in final.meters}
    ids: dict[str, str] = {}
    used: set[str] = set()

    def same_name(m: DeclaredMeter) -> DeclaredMeter | None:
        f = final_by_id.get(m.meter_id)
        return f if f is not None and same_scope(m, f) else None

    def same_key(m: DeclaredMeter) -> DeclaredMeter | None:
        f = final.meter_by_key.get(m.key_id)
        return f if f is not None and same_scope(m, f) else None

    def new_in_scope(m: DeclaredMeter) -> DeclaredMeter | None:
        new = [n for n in final.meters if n.meter_id not in before | used and same_scope(m, n)]
        return new[0] if len(new) == 1 else None

    for rule in (same_name, same_key, new_in_scope, lambda m: final.meter_by_key.get(m.key_id)):
        for m in v.meters:
            f = rule(m) if m.meter_id not in ids else None
            if f is not None and f.meter_id not in used:
                ids[m.meter_id] = f.meter_id
                used.add(f.meter_id)
    return ids


def meter_routes(
    spanned: Sequence[tuple[int, Inventory]], span: tuple[int, int], *, time_at: Callable[[int], int | None]
) -> MeterRoutes | None:
    """The routes of a bucket's meter readings over the versions in force in it (``spanned``,
    the last the bucket's own); None where one version held the bucket (its meters throughout)."""
    if len(spanned) < 2:
        return None
    final = spanned[-1][1]
    before = {m.meter_id for m in spanned[0][1].meters}
    names = {m.meter_id for m in final.meters}  # measurement names given out
    own: dict[tuple[object, ...], str] = {}  # a measurement of its own, by what it measured
    departed: dict[str, DeclaredMeter] = {}
    by_key: dict[str, list[tuple[int, tuple[DeclaredMeter, str]]]] = {}
    starts = stretch_starts(spanned, span, time_at)
    stretches = []
    for k, (_, v) in enumerate(spanned):
        ids = _joins(v, final, before)
        for m in v.meters:  # 5: a measurement of its own
            if m.meter_id in ids:
                continue
            what = (m.key_id, m.meter_id, m.scope, m.node_ids, m.feed)
            measured = own.get(what, "")
            if not measured:
                measured, n = m.meter_id, 1
                while measured in names:
                    measured, n = f"{m.meter_id}~{n}", n + 1
                own[what] = measured
                names.add(measured)
            departed[measured] = replace(m, meter_id=measured)
            ids[m.meter_id] = measured
        for m in v.meters:
            by_key.setdefault(m.key_id, []).append((starts[k], (m, ids[m.meter_id])))
        stop = starts[k + 1] if k + 1 < len(starts) else span[1]
        if stop > starts[k] and span[1] > span[0]:
            stretches.append(((stop - starts[k]) / (span[1] - span[0]), v, ids, (starts[k], stop)))
    return MeterRoutes(
        by_key={key: (tuple(t for t, _ in r), tuple(e for _, e in r)) for key, r in by_key.items()},
        departed=tuple(departed[m] for m in sorted(departed)),
        stretches=tuple(stretches),
    )
