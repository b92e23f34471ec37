"""Multilateral terms: one set of conditions, co-signed by the parties, binds every lab it names.

A ``Terms`` document (``PayloadType.TERMS``) states the conditions of a pause: the labs (and
facilities) it covers, its window, the rules (compute cap per lab, allowed workload classes,
power caps per facility), the reporting requirements and the bounds of every tolerance the
evaluation uses. It takes effect only when k of the parties it names signed it (each party's
keys are trust roots: the verifier's ``[[parties]]``, the auditor's ``roots.toml``). Everything
the verifier and the auditor must agree on about terms is here, once:

- :meth:`Terms.from_wire` — well formed, every error naming the field;
- :func:`verify_terms` — the quorum (k distinct parties the terms name; every signature by a
  known party's key, and valid), and, for a new version, the succession rule
  (:func:`check_succession`: same id, a higher version, the same window start, an end no
  earlier, and the quorum of the version it replaces as well);
- :class:`TermsInForce` — the latest version of each terms id; which terms bind a commitment
  or an inventory; :meth:`TermsInForce.check_commitment` / :meth:`TermsInForce.check_inventory`
  (at least as strict, or :class:`TermsViolationError` naming the field);
  :meth:`TermsInForce.effective` (the stricter of terms and commitment: what the evaluation
  uses) and :meth:`TermsInForce.implied` (a covered lab with no commitment is evaluated under
  the terms alone, as commitment ``terms:<terms id>:<lab id>``, and gets ``terms.no_commitment``).

Authoring format (TOML; ``pausewatch-verifier terms sign`` turns it into the envelope)::

    id = "pause-terms-2026"          # terms_id: printable ASCII, no spaces
    version = 1                      # a new version needs the quorum of this one and its own
    parties = ["party-a", "party-b"] # the parties whose quorum makes the terms effective
    signatures_required = 2          # k distinct parties
    description = "Joint pause: no training runs."

    [[labs]]                         # the labs bound, any number (at least one)
    lab_id = "lab-1"
    facilities = ["fac-a"]           # omit: every facility of the lab

    [window]
    start = 2026-01-01T00:00:00Z
    end = 2026-07-01T00:00:00Z

    [rules]                          # as a commitment's; compute_cap_flop is per covered lab
    compute_cap_flop = 1e24
    allowed_workloads = ["idle", "inference"]
    [[rules.power_caps]]
    facility = "fac-a"
    max_power_w = 2.5e6

    [reporting]                      # bounds: a commitment may ask for more, never less
    max_report_interval_s = 120      # at most
    max_gap_s = 180                  # at most
    bucket_s = 3600                  # at most
    timeout_intervals = 3            # at most
    min_inventory_coverage = 1.0     # at least
    min_time_coverage = 0.95         # at least

    [tolerances]                     # bounds: a commitment's and every inventory band within
    overhead_min_ratio = 1.0         # at least
    overhead_max_ratio = 1.6         # at most
    calibration_s = 10800            # at most
    max_overhead_drift = 0.1         # at most
    max_fixed_load_w = 0.0           # at most (absent: 0, no inventory may declare a fixed load)
    max_meter_accuracy = 0.01        # at most: the loosest meter accuracy class an inventory may declare

Defaults and hard limits are the commitment's (:mod:`pausewatch.commitment`): a tolerance
outside physical sense (an overhead bound outside ``OVERHEAD_BOUND_LIMITS``, a coverage below
0.5, a drift above 0.5, …) is refused, naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pausewatch.commitment import (
    MAX_FACILITIES,
    WORKLOAD_NAMES,
    Commitment,
    PowerCapRule,
    Reporting,
    Tolerances,
    located,
    read_conditions,
)
from pausewatch.envelope import ParsedEnvelope, PayloadType, pae, parse_message
from pausewatch.errors import FormatError, InputError, LimitExceededError, SignatureError, VerificationError
from pausewatch.inventory import Inventory
from pausewatch.keys import PublicKey
from pausewatch.reports import MAX_ID_LENGTH, check_id
from pausewatch.tomlread import Document
from pausewatch.v1 import types_pb2

__all__ = [
    "IMPLIED_PREFIX",
    "CoveredLab",
    "PlannedCommitment",
    "Terms",
    "TermsInForce",
    "TermsRef",
    "TermsSuccessionError",
    "TermsViolationError",
    "check_succession",
    "implied_commitment_id",
    "signing_parties",
    "terms_from_toml",
    "verify_terms",
]

IMPLIED_PREFIX: Final = "terms:"
MAX_PARTIES: Final = 64
MAX_LABS: Final = 1024
NS_PER_S: Final = 1_000_000_000


class TermsViolationError(VerificationError):
    """A commitment or inventory less strict than the terms in force for its lab."""


class TermsSuccessionError(VerificationError):
    """A new version of terms that contradicts the version it would replace."""


@dataclass(frozen=True, order=True)
class TermsRef:
    """A version of terms, as a verdict names it."""

    terms_id: str
    version: int


@dataclass(frozen=True)
class CoveredLab:
    lab_id: str
    facility_ids: tuple[str, ...]  # empty: every facility of the lab

    def covers(self, facility_id: str) -> bool:
        return not self.facility_ids or facility_id in self.facility_ids


@dataclass(frozen=True)
class Terms:
    """Validated terms. Build with ``from_wire`` (or :func:`verify_terms`)."""

    terms_id: str
    version: int
    party_ids: tuple[str, ...]
    signatures_required: int
    labs: tuple[CoveredLab, ...]
    window_start_ns: int
    window_end_ns: int
    compute_cap_flop: float | None
    power_caps: tuple[PowerCapRule, ...]
    allowed_workloads: frozenset[int]
    reporting: Reporting
    tolerances: Tolerances
    description: str
    wire: types_pb2.Terms

    @property
    def ref(self) -> TermsRef:
        return TermsRef(self.terms_id, self.version)

    def lab(self, lab_id: str) -> CoveredLab | None:
        return next((lab for lab in self.labs if lab.lab_id == lab_id), None)

    def binds(self, lab_id: str, window: tuple[int, int]) -> bool:
        """Whether a lab's document over ``window`` is bound: the lab is covered and the
        windows overlap."""
        return (
            self.lab(lab_id) is not None
            and window[0] < self.window_end_ns
            and self.window_start_ns < window[1]
        )

    def power_cap_for(self, facility_id: str) -> float | None:
        caps = [c.max_power_w for c in self.power_caps if c.facility_id == facility_id]
        return min(caps) if caps else None

    @classmethod
    def from_wire(cls, msg: types_pb2.Terms) -> Terms:
        """Validate wire terms; every error names the offending field."""
        check_id(msg.terms_id, "terms_id")
        if msg.version < 1:
            raise FormatError("version: must be at least 1")
        if not msg.party_ids:
            raise FormatError("party_ids: name at least one party")
        if len(msg.party_ids) > MAX_PARTIES:
            raise LimitExceededError(f"party_ids: {len(msg.party_ids)} entries; limit {MAX_PARTIES}")
        parties = tuple(check_id(p, f"party_ids[{i}]") for i, p in enumerate(msg.party_ids))
        if len(set(parties)) != len(parties):
            raise FormatError("party_ids: a party is listed twice")
        k = max(1, msg.signatures_required)
        if k > len(parties):
            raise FormatError(f"signatures_required: {k} but only {len(parties)} parties are named")
        if not msg.labs:
            raise FormatError("labs: name at least one lab")
        if len(msg.labs) > MAX_LABS:
            raise LimitExceededError(f"labs: {len(msg.labs)} entries; limit {MAX_LABS}")
        labs = []
        all_facilities: set[str] = set()
        for i, lab in enumerate(msg.labs):
            lab_id = check_id(lab.lab_id, f"labs[{i}].lab_id")
            if len(implied_commitment_id(msg.terms_id, lab_id)) > MAX_ID_LENGTH:
                raise LimitExceededError(
                    f"labs[{i}].lab_id: terms_id and lab_id together longer than"
                    f" {MAX_ID_LENGTH - len(IMPLIED_PREFIX) - 1} characters"
                )
            if len(lab.facility_ids) > MAX_FACILITIES:
                raise LimitExceededError(f"labs[{i}].facility_ids: more than {MAX_FACILITIES}")
            facilities = tuple(
                check_id(f, f"labs[{i}].facility_ids[{j}]") for j, f in enumerate(lab.facility_ids)
            )
            if len(set(facilities)) != len(facilities):
                raise FormatError(f"labs[{i}].facility_ids: a facility is listed twice")
            if set(facilities) & all_facilities:
                raise FormatError(f"labs[{i}].facility_ids: a facility is listed under two labs")
            all_facilities |= set(facilities)
            labs.append(CoveredLab(lab_id, facilities))
        if len({lab.lab_id for lab in labs}) != len(labs):
            raise FormatError("labs: a lab is listed twice")
        if all(lab.facility_ids for lab in labs):
            for i, pc in enumerate(msg.rules.power_caps):
                if pc.facility_id not in all_facilities:
                    raise FormatError(
                        f"rules.power_caps[{i}].facility_id: {pc.facility_id[:40]!r}"
                        " is not a covered facility"
                    )
        if len(msg.description) > 4096:
            raise LimitExceededError("description: longer than 4096 characters")
        # The window, rules, reporting requirements and tolerances mean what a commitment's
        # mean, with its defaults and its limits: validated by the one definition.
        template = Commitment.from_wire(_as_commitment(msg, labs[0].lab_id, ()))
        copy = types_pb2.Terms()
        copy.CopyFrom(msg)
        return cls(
            terms_id=msg.terms_id,
            version=msg.version,
            party_ids=parties,
            signatures_required=k,
            labs=tuple(labs),
            window_start_ns=template.window_start_ns,
            window_end_ns=template.window_end_ns,
            compute_cap_flop=template.compute_cap_flop,
            power_caps=template.power_caps,
            allowed_workloads=template.allowed_workloads,
            reporting=template.reporting,
            tolerances=template.tolerances,
            description=msg.description,
            wire=copy,
        )


def implied_commitment_id(terms_id: str, lab_id: str) -> str:
    """The commitment id a covered lab without a commitment is evaluated under."""
    return f"{IMPLIED_PREFIX}{terms_id}:{lab_id}"


def _as_commitment(msg: types_pb2.Terms, lab_id: str, facilities: Sequence[str]) -> types_pb2.Commitment:
    """The terms as one lab's commitment (facilities empty: every facility of the lab)."""
    com = types_pb2.Commitment(
        commitment_id=implied_commitment_id(msg.terms_id, lab_id),
        version=msg.version,
        lab_id=lab_id,
        all_facilities_of_lab=not facilities,
        window_start_unix_ns=msg.window_start_unix_ns,
        window_end_unix_ns=msg.window_end_unix_ns,
        signatures_required=1,
        description=f"implied by terms {msg.terms_id} v{msg.version}: lab {lab_id} has no commitment",
    )
    com.facility_ids.extend(facilities)
    com.rules.CopyFrom(msg.rules)
    if facilities:
        del com.rules.power_caps[:]
        com.rules.power_caps.extend(pc for pc in msg.rules.power_caps if pc.facility_id in facilities)
    com.reporting.CopyFrom(msg.reporting)
    com.tolerances.CopyFrom(msg.tolerances)
    return com


# --------------------------------------------------------------------------- signatures


def signing_parties(envelope: ParsedEnvelope, party_keys: Mapping[str, Sequence[PublicKey]]) -> list[str]:
    """The parties whose keys signed ``envelope``, sorted, each signature verified.

    Every signature must name a key of a known party and verify under it, each key once:
    terms with an unknown signer, a repeated signer or a bad signature are refused
    (``SignatureError``) — a co-signed document whose signatures cannot all be accounted for
    is not co-signed. Costs one Ed25519 check per signature, and none when a key is unknown."""
    owner: dict[str, tuple[str, PublicKey]] = {}
    for party, keys in party_keys.items():
        for key in keys:
            owner[key.key_id] = (party, key)
    hints = [hint for hint, _ in envelope.signatures]
    for hint in hints:
        if hint not in owner:
            raise SignatureError(f"signed by key {hint[:16]!r}, which belongs to no known party")
    if len(set(hints)) != len(hints):
        raise SignatureError("a key signs the terms twice")
    message = pae(envelope.payload_type, envelope.payload)
    parties: set[str] = set()
    for hint, sig in envelope.signatures:
        party, key = owner[hint]
        try:
            key.verify(sig, message)
        except InputError as e:
            raise SignatureError(f"the signature of party {party!r} (key {hint[:16]}) does not verify") from e
        parties.add(party)
    return sorted(parties)


def _quorum(terms: Terms, signed_by: Collection[str], what: str) -> None:
    named = [p for p in signed_by if p in terms.party_ids]
    if len(named) < terms.signatures_required:
        raise SignatureError(
            f"{what} needs {terms.signatures_required} of the parties {', '.join(terms.party_ids)};"
            f" signed by {len(named)}: {', '.join(named) or 'none'}"
        )


def check_succession(previous: Terms, new: Terms, signed_by: Collection[str]) -> None:
    """A new version may replace ``previous`` only with the same id, a higher version, the same
    window start (the past it governed stays governed), an end no earlier, and the quorum of
    ``previous`` as well as its own (``signed_by``: the parties that signed it)."""
    if new.terms_id != previous.terms_id:
        raise TermsSuccessionError(f"terms_id: {new.terms_id!r} does not replace {previous.terms_id!r}")
    if new.version <= previous.version:
        raise TermsSuccessionError(
            f"version: {new.version} does not exceed the logged version {previous.version}"
        )
    if new.window_start_ns != previous.window_start_ns:
        raise TermsSuccessionError(
            f"window.start: contradicts version {previous.version}, whose window starts at"
            f" {previous.window_start_ns} ns: a new version may not move the start"
        )
    if new.window_end_ns < previous.window_end_ns:
        raise TermsSuccessionError(
            f"window.end: contradicts version {previous.version}, whose window ends at"
            f" {previous.window_end_ns} ns: a new version may extend the window, never cut it"
        )
    _quorum(previous, signed_by, f"replacing version {previous.version}")


def verify_terms(
    envelope: ParsedEnvelope,
    party_keys: Mapping[str, Sequence[PublicKey]],
    previous: Terms | None = None,
) -> tuple[Terms, list[str]]:
    """Verify signed terms against the parties' keys; return them and the parties that signed.

    Signatures are checked before the payload is parsed (:func:`signing_parties`); then the
    terms must be well formed, name only known parties, and carry the signatures of k distinct
    parties they name; a new version must also follow ``previous`` (:func:`check_succession`)."""
    if envelope.payload_type != PayloadType.TERMS:
        raise FormatError(f"payload type {envelope.payload_type!r} is not terms")
    if not party_keys:
        raise SignatureError("no party keys are trusted: terms cannot take effect")
    signed_by = signing_parties(envelope, party_keys)
    terms = Terms.from_wire(parse_message(envelope.payload, types_pb2.Terms))
    for i, party in enumerate(terms.party_ids):
        if party not in party_keys:
            raise SignatureError(f"party_ids[{i}]: party {party!r} is not among the trusted parties")
    outside = [p for p in signed_by if p not in terms.party_ids]
    if outside:
        raise SignatureError(f"signed by party {outside[0]!r}, which the terms do not name")
    _quorum(terms, signed_by, f"terms {terms.terms_id} v{terms.version}")
    if previous is not None:
        check_succession(previous, terms, signed_by)
    return terms, signed_by


# --------------------------------------------------------------------------- terms in force


@dataclass(frozen=True)
class PlannedCommitment:
    """What one evaluation runs under: the effective commitment, the terms it applied, and
    whether it is implied (a covered lab with no commitment)."""

    commitment: Commitment
    terms: tuple[TermsRef, ...]
    implied: bool = False


@dataclass(frozen=True)
class TermsInForce:
    """The latest version of each terms id (of a log prefix), ordered by id."""

    terms: tuple[Terms, ...] = ()

    @classmethod
    def latest(cls, versions: Iterable[Terms]) -> TermsInForce:
        newest: dict[str, Terms] = {}
        for t in versions:
            if t.terms_id not in newest or t.version > newest[t.terms_id].version:
                newest[t.terms_id] = t
        return cls(tuple(newest[k] for k in sorted(newest)))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def binding(self, c: Commitment) -> list[Terms]:
        """The terms that bind commitment ``c``: its lab covered, the windows overlapping, and a
        facility of ``c`` among those the terms cover for the lab."""
        out = []
        for t in self.terms:
            lab = t.lab(c.lab_id)
            if lab is None or not t.binds(c.lab_id, (c.window_start_ns, c.window_end_ns)):
                continue
            if (
                lab.facility_ids
                and not c.all_facilities_of_lab
                and not set(lab.facility_ids) & set(c.facility_ids)
            ):
                continue
            out.append(t)
        return out

    def check_commitment(self, c: Commitment, lab_facilities: Collection[str] | None = None) -> None:
        """Raise :class:`TermsViolationError` naming the field when ``c`` is less strict than
        any terms that bind it. ``lab_facilities``: the facilities the lab may declare (trust
        roots), which a commitment must cover when the terms cover every facility of the lab."""
        for t in self.binding(c):
            where = f"commitment {c.commitment_id} v{c.version} under terms {t.terms_id} v{t.version}"
            for problem in _laxer(c, t, lab_facilities):
                raise TermsViolationError(f"{where}: {problem}")

    def check_inventory(self, inv: Inventory) -> None:
        """Every band of ``inv`` within the overhead bounds of the terms covering its facility."""
        for t in self.terms:
            lab = t.lab(inv.lab_id)
            if lab is None or not lab.covers(inv.facility_id):
                continue
            try:
                inv.check_bounds(t.tolerances, f"terms:{t.terms_id}")
            except FormatError as e:
                raise TermsViolationError(
                    f"inventory of {inv.facility_id} v{inv.version} under terms {t.terms_id}"
                    f" v{t.version}: {e}"
                ) from e

    def effective(self, c: Commitment) -> PlannedCommitment:
        """The stricter of ``c`` and every terms that bind it — what the evaluation uses.

        Caps take the lowest, allowed workload classes the intersection (idle only when it is
        empty), reporting limits the strictest, coverage minimums the highest, overhead bounds
        the narrowest (the terms' own when a commitment logged before them does not overlap
        them), calibration the shortest (at least two buckets), drift and fixed load the
        smallest. The window and the bucket stay the commitment's: they name its verdicts."""
        binding = self.binding(c)
        if not binding:
            return PlannedCommitment(c, ())
        cap = c.compute_cap_flop
        allowed = set(c.allowed_workloads)
        restricted = bool(allowed)
        power = {pc.facility_id: pc.max_power_w for pc in c.power_caps}
        rep, tol = c.reporting, c.tolerances
        for t in binding:
            if t.compute_cap_flop is not None:
                cap = t.compute_cap_flop if cap is None else min(cap, t.compute_cap_flop)
            if t.allowed_workloads:
                allowed = set(t.allowed_workloads) & allowed if restricted else set(t.allowed_workloads)
                restricted = True
            lab = t.lab(c.lab_id)
            for pc in t.power_caps:
                if lab is not None and lab.covers(pc.facility_id):
                    power[pc.facility_id] = min(power.get(pc.facility_id, math.inf), pc.max_power_w)
            tr, tt = t.reporting, t.tolerances
            rep = dataclasses.replace(
                rep,
                max_report_interval_ns=min(rep.max_report_interval_ns, tr.max_report_interval_ns),
                max_gap_ns=min(rep.max_gap_ns, tr.max_gap_ns),
                min_inventory_coverage=max(rep.min_inventory_coverage, tr.min_inventory_coverage),
                timeout_intervals=min(rep.timeout_intervals, tr.timeout_intervals),
                min_time_coverage=max(rep.min_time_coverage, tr.min_time_coverage),
            )
            lo = max(tol.overhead_min_ratio, tt.overhead_min_ratio)
            hi = min(tol.overhead_max_ratio, tt.overhead_max_ratio)
            if lo > hi:
                lo, hi = tt.overhead_min_ratio, tt.overhead_max_ratio
            tol = Tolerances(
                overhead_min_ratio=lo,
                overhead_max_ratio=hi,
                calibration_ns=max(min(tol.calibration_ns, tt.calibration_ns), 2 * rep.bucket_ns),
                max_overhead_drift=min(tol.max_overhead_drift, tt.max_overhead_drift),
                max_fixed_load_w=min(tol.max_fixed_load_w, tt.max_fixed_load_w),
                max_meter_accuracy=min(tol.max_meter_accuracy, tt.max_meter_accuracy),
            )
        if restricted and not allowed:
            allowed = {types_pb2.WORKLOAD_CLASS_IDLE}
        effective = dataclasses.replace(
            c,
            compute_cap_flop=cap,
            allowed_workloads=frozenset(allowed),
            power_caps=tuple(PowerCapRule(f, w) for f, w in sorted(power.items())),
            reporting=rep,
            tolerances=tol,
        )
        return PlannedCommitment(effective, tuple(t.ref for t in binding))

    def implied(self, commitments: Iterable[Commitment]) -> list[PlannedCommitment]:
        """A commitment implied by the terms for every covered lab that has none binding it
        (no commitment of the lab overlaps the terms' window): evaluated under the terms
        alone, so that the lab gets verdicts — INCONCLUSIVE at best, ``terms.no_commitment``
        — rather than silence."""
        commitments = list(commitments)
        out = []
        for t in self.terms:
            for lab in t.labs:
                if any(t in self.binding(c) for c in commitments if c.lab_id == lab.lab_id):
                    continue
                implied = Commitment.from_wire(_as_commitment(t.wire, lab.lab_id, lab.facility_ids))
                out.append(PlannedCommitment(implied, (t.ref,), implied=True))
        return out

    def plan(self, commitments: Iterable[Commitment]) -> list[PlannedCommitment]:
        """Every evaluation to run: each commitment made effective, then the implied ones."""
        commitments = list(commitments)
        return [*(self.effective(c) for c in commitments), *self.implied(commitments)]


def _laxer(c: Commitment, t: Terms, lab_facilities: Collection[str] | None) -> Iterable[str]:
    """Every way ``c`` is less strict than ``t`` (the first one is the error)."""
    s = NS_PER_S
    if c.window_start_ns > t.window_start_ns:
        yield f"window.start: starts after the terms' window ({c.window_start_ns} > {t.window_start_ns} ns)"
    if c.window_end_ns < t.window_end_ns:
        yield f"window.end: ends before the terms' window ({c.window_end_ns} < {t.window_end_ns} ns)"
    lab = t.lab(c.lab_id)
    if lab is not None and not c.all_facilities_of_lab:
        wanted = lab.facility_ids or tuple(sorted(lab_facilities or ()))
        missing = [f for f in wanted if f not in c.facility_ids]
        if missing:
            yield f"facilities: {missing[0]!r} is covered by the terms but not by the commitment"
    if t.compute_cap_flop is not None and (
        c.compute_cap_flop is None or c.compute_cap_flop > t.compute_cap_flop
    ):
        mine = "no cap" if c.compute_cap_flop is None else f"{c.compute_cap_flop:g}"
        yield f"rules.compute_cap_flop: {mine} is above the terms' cap {t.compute_cap_flop:g}"
    if t.allowed_workloads:
        names = {v: k for k, v in WORKLOAD_NAMES.items()}
        if not c.allowed_workloads:
            yield "rules.allowed_workloads: allows every class; the terms allow only " + ", ".join(
                sorted(names[w] for w in t.allowed_workloads)
            )
        elif extra := sorted(names[w] for w in c.allowed_workloads - t.allowed_workloads):
            yield f"rules.allowed_workloads: {extra[0]!r} is not allowed by the terms"
    for pc in t.power_caps:
        if lab is None or not lab.covers(pc.facility_id) or not c.covers(pc.facility_id, c.lab_id):
            continue
        watts = c.power_cap_for(pc.facility_id)
        if watts is None or watts > pc.max_power_w:
            mine = "no cap" if watts is None else f"{watts:g}"
            yield (
                f"rules.power_caps[{pc.facility_id}].max_power_w: {mine} is above the terms'"
                f" cap {pc.max_power_w:g}"
            )
    cr, tr = c.reporting, t.reporting
    for name, ns, bound in (
        ("max_report_interval_s", cr.max_report_interval_ns, tr.max_report_interval_ns),
        ("max_gap_s", cr.max_gap_ns, tr.max_gap_ns),
        ("bucket_s", cr.bucket_ns, tr.bucket_ns),
    ):
        if ns > bound:
            yield f"reporting.{name}: {ns / s:g} is above the terms' bound {bound / s:g}"
    if cr.timeout_intervals > tr.timeout_intervals:
        yield (
            f"reporting.timeout_intervals: {cr.timeout_intervals} is above the terms' bound"
            f" {tr.timeout_intervals}"
        )
    for name, low, floor in (
        ("min_inventory_coverage", cr.min_inventory_coverage, tr.min_inventory_coverage),
        ("min_time_coverage", cr.min_time_coverage, tr.min_time_coverage),
    ):
        if low < floor:
            yield f"reporting.{name}: {low:g} is below the terms' bound {floor:g}"
    ct, tt = c.tolerances, t.tolerances
    if ct.overhead_min_ratio < tt.overhead_min_ratio:
        yield (
            f"tolerances.overhead_min_ratio: {ct.overhead_min_ratio:g} is below the terms' bound"
            f" {tt.overhead_min_ratio:g}"
        )
    if ct.overhead_max_ratio > tt.overhead_max_ratio:
        yield (
            f"tolerances.overhead_max_ratio: {ct.overhead_max_ratio:g} is above the terms' bound"
            f" {tt.overhead_max_ratio:g}"
        )
    if ct.calibration_ns > tt.calibration_ns:
        yield (
            f"tolerances.calibration_s: {ct.calibration_ns / s:g} is above the terms' bound"
            f" {tt.calibration_ns / s:g}"
        )
    if ct.max_overhead_drift > tt.max_overhead_drift:
        yield (
            f"tolerances.max_overhead_drift: {ct.max_overhead_drift:g} is above the terms' bound"
            f" {tt.max_overhead_drift:g}"
        )
    if ct.max_fixed_load_w > tt.max_fixed_load_w:
        yield (
            f"tolerances.max_fixed_load_w: {ct.max_fixed_load_w:g} is above the terms' bound"
            f" {tt.max_fixed_load_w:g}"
        )
    if ct.max_meter_accuracy > tt.max_meter_accuracy:
        yield (
            f"tolerances.max_meter_accuracy: {ct.max_meter_accuracy:g} is above the terms' bound"
            f" {tt.max_meter_accuracy:g}"
        )


# --------------------------------------------------------------------------- TOML


_TOP_KEYS: Final = (
    "id",
    "version",
    "parties",
    "signatures_required",
    "description",
    "labs",
    "window",
    "rules",
    "reporting",
    "tolerances",
)


def terms_from_toml(text: str, source_name: str) -> types_pb2.Terms:
    """Parse the TOML authoring format into wire terms, validated by ``Terms.from_wire``.

    The window, rules, reporting and tolerances tables are read by the commitment's own reader
    (:func:`pausewatch.commitment.read_conditions`: the same keys, units and defaults); errors
    name the file, the line and the field."""
    doc = Document.parse(text, source_name)
    root = doc.root
    root.only(*_TOP_KEYS)
    msg = types_pb2.Terms(terms_id=root.string("id"), description=root.string("description", ""))
    version = root.integer("version")
    if version < 1:
        raise root.fail("version", "must be at least 1")
    msg.version = version
    parties = root.strings("parties")
    if not parties:
        raise root.fail("parties", "name at least one party")
    msg.party_ids.extend(parties)
    k = root.integer("signatures_required", len(parties))
    if not 1 <= k <= len(parties):
        raise root.fail("signatures_required", f"must be within 1 … {len(parties)} (the parties named)")
    msg.signatures_required = k
    labs = root.tables("labs")
    if not labs:
        raise root.fail("labs", "name at least one lab ([[labs]] with lab_id)")
    for lab in labs:
        lab.only("lab_id", "facilities")
        msg.labs.add(lab_id=lab.string("lab_id"), facility_ids=lab.strings("facilities"))
    read_conditions(root, msg)
    try:
        Terms.from_wire(msg)
    except FormatError as e:
        raise located(doc, e) from e
    return msg
