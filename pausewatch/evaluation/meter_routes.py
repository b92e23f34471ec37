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

    # per key: (from when, the declaration, its measurement), in time order
    by_key: Mapping[str, tuple[tuple[int, DeclaredMeter, str], ...]]
    # declarations whose measurement the bucket's version has no meter for, named as measured,
    # each as the last version that declared it had it
    departed: tuple[DeclaredMeter, ...]
    # per stretch of the bucket (zero-length ones left out): its fraction of the bucket, the
    # version, and that version's meter id → measurement
    stretches: tuple[tuple[float, Inventory, Mapping[str, str]], ...]

    def route(self, key_id: str, at_ns: int) -> tuple[DeclaredMeter, str] | None:
        """The declaration in force for ``key_id`` at ``at_ns``, and its measurement: the newest
        taking over at or before then (before the key's first, its first: a meter that read a
        moment before its version was logged); None for a key no version in force declared."""
        routes = self.by_key.get(key_id)
        if not routes:
            return None
        k = bisect.bisect_right([t for t, _, _ in routes], at_ns) - 1
        _, declared, measured = routes[max(0, k)]
        return declared, measured

    def accuracies(self, measured: str, fallback: float) -> list[tuple[float, float]]:
        """(fraction of the bucket, declared accuracy) of the measurement ``measured`` in each
        stretch: the declaration counted under it then, or ``fallback`` (what it was declared
        at where no version of that stretch had it)."""
        out = []
        for w, v, ids in self.stretches:
            theirs = next((m.accuracy for m in v.meters if ids.get(m.meter_id) == measured), fallback)
            out.append((w, theirs))
        return out


def meter_routes(
    spanned: Sequence[tuple[int, Inventory]], span: tuple[int, int], *, time_at: Callable[[int], int | None]
) -> MeterRoutes | None:
    """The routes of a bucket's meter readings over the versions in force in it (``spanned``,
    the last the bucket's own); None where one version held the bucket (its meters throughout)."""
    if len(spanned) < 2:
        return None
    final = spanned[-1][1]
    final_by_id = {m.meter_id: m for m in final.meters}
    before = {m.meter_id for m in spanned[0][1].meters}
    names = set(final_by_id)  # measurement names given out
    own: dict[tuple[object, ...], str] = {}  # a measurement of its own, by what it measured
    departed: dict[str, DeclaredMeter] = {}
    by_key: dict[str, list[tuple[int, DeclaredMeter, str]]] = {}
    starts = stretch_starts(spanned, span, time_at)
    stretches = []
    for k, (_, v) in enumerate(spanned):
        ids: dict[str, str] = {}
        used: set[str] = set()
        for m in v.meters:  # 1: the same name, the same scope
            f = final_by_id.get(m.meter_id)
            if f is not None and same_scope(m, f):
                ids[m.meter_id] = m.meter_id
                used.add(m.meter_id)
        for m in v.meters:  # 2: the same key, the same scope
            f = final.meter_by_key.get(m.key_id)
            if m.meter_id not in ids and f is not None and f.meter_id not in used and same_scope(m, f):
                ids[m.meter_id] = f.meter_id
                used.add(f.meter_id)
        for m in v.meters:  # 3, 4 and 5
            if m.meter_id in ids:
                continue
            new = [
                n
                for n in final.meters
                if n.meter_id not in before and n.meter_id not in used and same_scope(m, n)
            ]
            moved = final.meter_by_key.get(m.key_id)
            if len(new) == 1:
                measured = new[0].meter_id
                used.add(measured)
            elif moved is not None and moved.meter_id not in used:
                measured = moved.meter_id
                used.add(measured)
            else:
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
            by_key.setdefault(m.key_id, []).append((starts[k], m, ids[m.meter_id]))
        stop = starts[k + 1] if k + 1 < len(starts) else span[1]
        if stop > starts[k] and span[1] > span[0]:
            stretches.append(((stop - starts[k]) / (span[1] - span[0]), v, ids))
    return MeterRoutes(
        by_key={key: tuple(r) for key, r in by_key.items()},
        departed=tuple(departed[m] for m in sorted(departed)),
        stretches=tuple(stretches),
    )
