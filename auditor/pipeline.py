"""The offline audit of one bundle, start to finish.

Order: manifest (format, version, canonical form) → files against the manifest (set, sizes,
SHA-256) → trust (the auditor's policy and roots, or the bundle's own, said loudly) →
checkpoints under the policy, consistency between successive ones → the signed documents
(terms, inventories, commitments, challenges, verdicts; commitments and inventories within the
terms in force) → every entry, in parallel chunks: leaf hash,
structure, signature under the key enrolled at that log position, challenge → in the main
process, in log order: tree roots against every checkpoint (or inclusion proofs for a slice),
chains replayed, the documents' files compared with the log → verdict revisions checked, verdicts
re-evaluated and compared, latest revisions checked for staleness → counts. The entry pass
decodes each report once: those the re-evaluation reads (below the largest
``evaluated_log_size``) come back with its results, so ``entries.bin`` is not decoded a second
time. Results cross from the workers as typed items (``AuditFailure``, ``Observation``,
``IngestFinding``, ``LoggedReport``, ``DocumentEntry``), not positional tuples. Failures are
collected, not raised, so one run names everything wrong; only a bundle that cannot be read at
all stops early.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from auditor.chains import ChainReplay, CompactLink
from auditor.documents import (
    verify_challenge,
    verify_commitment,
    verify_inventory,
    verify_terms,
    verify_verdict,
)
from auditor.entries import (
    ChunkResult,
    ChunkTask,
    EntryContext,
    InventoryKeys,
    check_chunk_file,
)
from auditor.outcome import (
    AuditOutcome,
    FacilitySeries,
    FindingMark,
    Observation,
    SeriesPoint,
    VerdictMark,
)
from auditor.reevaluate import MAX_RULES_SHOWN, check_revisions, reevaluate_verdicts
from pausewatch import bundle as bf
from pausewatch import merkle
from pausewatch.chain import LinkKind
from pausewatch.commitment import Commitment
from pausewatch.documents import check_tolerances
from pausewatch.errors import EnvironmentFaultError, InputError, InternalError
from pausewatch.evaluation.inputs import IngestFinding, LoggedReport
from pausewatch.files import bundle as bf_files
from pausewatch.freshness import ChallengeHistory, ChallengeRecord
from pausewatch.inventory import KEY_CONFLICT, Inventory, KeyConflictError, key_conflict
from pausewatch.keys import key_id
from pausewatch.policy import QUORUM_NONE, Policy, check_checkpoint, parse_policy
from pausewatch.roots import AuditRoots, parse_roots
from pausewatch.terms import Terms, TermsInForce, TermsSuccessionError
from pausewatch.v1 import types_pb2

__all__ = ["AuditOptions", "TrustInputError", "audit_bundle"]

DEFAULT_CHUNK_ENTRIES = 2048  # a power of two: chunk roots are nodes of the tree
_ENTRY_HEAD = struct.Struct(">QI")
_PROOF_HEAD = struct.Struct(">QQB")
_VERDICT_STATUS = {
    types_pb2.VERDICT_STATUS_COMPLIANT: "COMPLIANT",
    types_pb2.VERDICT_STATUS_VIOLATION: "VIOLATION",
    types_pb2.VERDICT_STATUS_INCONCLUSIVE: "INCONCLUSIVE",
}


class TrustInputError(InputError):
    """The auditor's own policy or roots are unusable: the audit cannot run (exit 2)."""


@dataclass(frozen=True)
class AuditOptions:
    policy: Policy | None = None  # the auditor's own; None: the bundle's, said loudly
    roots: AuditRoots | None = None
    workers: int = 0  # 0: every core this process may use
    chunk_entries: int = DEFAULT_CHUNK_ENTRIES
    progress: Callable[[int, int], None] | None = None
    reevaluate: bool = True
    # verdicts of other evaluation rules that re-derive differently are listed, not failed
    allow_other_rules: bool = False
    trust_source: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def audit_bundle(directory: Path, options: AuditOptions = AuditOptions()) -> AuditOutcome:
    """Audit the bundle directory; the outcome lists every failure. Raises only when the
    bundle cannot be read as a bundle at all (BundleVersionError, EnvironmentFaultError,
    TrustInputError)."""
    started = time.perf_counter()
    out = AuditOutcome(bundle=str(directory))
    try:
        _Audit(directory, options, out).run()
    finally:
        out.seconds = time.perf_counter() - started
    return out


def _trusted_keys(policy: Policy | None, roots: AuditRoots | None) -> tuple[tuple[str, str, str], ...]:
    keys: list[tuple[str, str, str]] = []
    if policy is not None:
        keys += [("log", log.key.name, f"{log.key.key_id:08x}") for log in policy.logs]
        keys += [("witness", w.name, f"{w.key.key_id:08x}") for w in policy.witnesses]
    if roots is not None:
        keys.append(("verdict", "verdict key", roots.verdict_key.key_id[:16]))
        keys.append(("challenge", "challenge key", roots.challenge_key.key_id[:16]))
        for lab in roots.labs:
            keys += [("lab", lab.lab_id, k.key_id[:16]) for k in lab.keys]
        for party in roots.parties:
            keys += [("party", party.party_id, k.key_id[:16]) for k in party.keys]
    return tuple(keys)


class _Audit:
    def __init__(self, directory: Path, options: AuditOptions, out: AuditOutcome) -> None:
        self.dir = directory
        self.opt = options
        self.out = out
        self.manifest: bf.Manifest | None = None
        self.policy: Policy | None = None
        self.roots: AuditRoots | None = None
        self.checkpoints: list[tuple[int, bytes]] = []  # (size, root) verified
        self.docs: dict[str, dict[int, bytes]] = {}  # type -> index -> digest
        self.inventories: dict[str, list[InventoryKeys]] = {}
        self.all_keys: dict[str, bytes] = {}
        self.challenges: dict[bytes, ChallengeRecord] = {}  # nonce -> the logged challenge
        self.log_times: list[tuple[int, int]] = []  # every verified challenge: (index, issued)
        self.commitments: list[tuple[int, types_pb2.Commitment]] = []
        self.verdicts: list[tuple[int, bytes, types_pb2.Verdict]] = []
        self.freshness: list[IngestFinding] = []
        self.reports: list[LoggedReport] = []  # decoded by the entry pass, for the re-evaluation
        self.inventory_msgs: list[tuple[int, types_pb2.Inventory]] = []
        self.terms: list[tuple[int, Terms]] = []

    # ---------------------------------------------------------------- steps

    def run(self) -> None:
        if not self.dir.is_dir():
            raise EnvironmentFaultError(f"{self.dir}: no such bundle directory")
        self._pinning()  # a fact of the auditor's options, known even when the manifest fails
        if not self._manifest():
            return
        entries_digest = self._files()
        self._trust()
        if self.policy is None or self.roots is None:
            return
        self._checkpoints()
        self._documents()
        self._entries()
        if entries_digest is not None:
            entries_digest()
        self._reevaluate()

    def _read(self, name: str) -> bytes | None:
        try:
            return (self.dir / name).read_bytes()
        except FileNotFoundError:
            self.out.fail("bundle.missing_file", name, "the file is missing")
        except OSError as e:
            raise EnvironmentFaultError(f"{self.dir / name}: cannot read: {e.strerror}") from e
        return None

    def _manifest(self) -> bool:
        data = self._read(bf.MANIFEST_FILE)
        if data is None:
            return False
        try:
            self.manifest = bf.parse_manifest(data)
        except bf.BundleVersionError:
            raise
        except InputError as e:
            self.out.fail("bundle.manifest", bf.MANIFEST_FILE, str(e))
            return False
        m = self.manifest
        self.out.origin, self.out.tree_size = m.origin, m.tree_size
        self.out.scope = ",".join(f"{k}={v}" for k, v in m.scope.to_json().items())
        return True

    def _files(self) -> Callable[[], None] | None:
        """Check the file set and digests; the big entry file is hashed in a thread while the
        workers run (hashlib releases the GIL). Returns the function that joins that thread."""
        manifest = _need(self.manifest)
        try:
            present = set(bf_files.list_bundle_files(self.dir)) - {bf.MANIFEST_FILE}
        except bf.BundleFileError as e:
            self.out.fail("bundle.files", str(self.dir), str(e))
            present = set()
        listed = set(manifest.files)
        for name in sorted(listed - present):
            self.out.fail("bundle.missing_file", name, "listed in the manifest but missing")
        for name in sorted(present - listed):
            self.out.fail("bundle.extra_file", name, "present but not listed in the manifest")
        required = {
            bf.POLICY_FILE,
            bf.ROOTS_FILE,
            bf.ENTRIES_FILE,
            bf.CONSISTENCY_FILE,
            bf.INVENTORIES_FILE,
            bf.COMMITMENTS_FILE,
            bf.VERDICTS_FILE,
            bf.CHALLENGES_FILE,
        }
        if manifest.scope.kind == "slice":
            required.add(bf.INCLUSION_FILE)
        for name in sorted(required - listed):
            self.out.fail("bundle.manifest", name, "a required file is not listed in the manifest")
        joiner: Callable[[], None] | None = None
        for name in sorted(listed & present):
            want = manifest.files[name]
            if name == bf.ENTRIES_FILE:
                joiner = self._digest_in_thread(name, want)
                continue
            self._compare_digest(name, bf_files.file_digest(self.dir / name), want)
        return joiner

    def _compare_digest(self, name: str, got: bf.FileDigest, want: bf.FileDigest) -> None:
        if got.size != want.size:
            self.out.fail("bundle.digest", name, f"{got.size} bytes, the manifest says {want.size}")
        elif got.sha256 != want.sha256:
            self.out.fail("bundle.digest", name, "SHA-256 differs from the manifest")

    def _digest_in_thread(self, name: str, want: bf.FileDigest) -> Callable[[], None]:
        result: list[bf.FileDigest | BaseException] = []

        def work() -> None:
            try:
                result.append(bf_files.file_digest(self.dir / name))
            except BaseException as e:  # reported in the joiner
                result.append(e)

        thread = threading.Thread(target=work, name="bundle-digest", daemon=True)
        thread.start()

        def join() -> None:
            thread.join()
            got = result[0]
            if isinstance(got, BaseException):
                raise got
            self._compare_digest(name, got, want)

        return join

    def _pinning(self) -> None:
        pinned_policy, pinned_roots = self.opt.policy is not None, self.opt.roots is not None
        self.out.pinned = pinned_policy and pinned_roots
        own, bundle = "the auditor's own (pinned)", "THE BUNDLE'S OWN (not pinned)"
        self.out.trust_source = (
            f"policy: {own if pinned_policy else bundle}; roots: {own if pinned_roots else bundle}"
        )

    def _trust(self) -> None:
        pinned_policy = self.opt.policy is not None
        self.policy = self.opt.policy
        if self.policy is None:
            data = self._read(bf.POLICY_FILE)
            if data is not None:
                try:
                    self.policy = parse_policy(data)
                except InputError as e:
                    self.out.fail("trust.policy", bf.POLICY_FILE, str(e))
        if self.policy is not None and not self.policy.logs:
            where = "the auditor's --policy" if pinned_policy else bf.POLICY_FILE
            if pinned_policy:
                raise TrustInputError(f"{where} lists no log key: no checkpoint can verify with it")
            self.out.fail("trust.policy", where, "lists no log key: no checkpoint can verify with it")
            self.policy = None
        self.roots = self.opt.roots
        if self.roots is None:
            data = self._read(bf.ROOTS_FILE)
            if data is not None:
                try:
                    self.roots = parse_roots(data, source=bf.ROOTS_FILE)
                except InputError as e:
                    self.out.fail("trust.roots", bf.ROOTS_FILE, str(e))
        self.out.trusted_keys = _trusted_keys(self.policy, self.roots)

    def _checkpoints(self) -> None:
        manifest, policy = _need(self.manifest), _need(self.policy)
        names = sorted(n for n in manifest.files if n.startswith(bf.CHECKPOINTS_DIR + "/"))
        if not names:
            self.out.fail("checkpoint.missing", bf.CHECKPOINTS_DIR, "the bundle holds no checkpoint")
            return
        witnesses: set[str] = set()
        # The witness quorum is asked of the head (the last checkpoint); every earlier one needs
        # the log's signature and is proven a prefix of the head below (consistency), so it
        # cannot show a history the witnessed head does not extend.
        signed_only = replace(policy, quorum=QUORUM_NONE)
        for name in names:
            data = self._read(name)
            if data is None:
                continue
            try:
                verified = check_checkpoint(data, policy if name == names[-1] else signed_only)
            except InputError as e:
                self.out.fail("checkpoint.signature", name, str(e))
                continue
            cp = verified.checkpoint
            witnesses.update(verified.witnesses)
            if cp.origin != manifest.origin:
                self.out.fail(
                    "checkpoint.origin",
                    name,
                    f"origin {cp.origin!r}, the manifest says {manifest.origin!r}",
                )
                continue
            if cp.size != bf.checkpoint_size_from_name(name):
                self.out.fail("checkpoint.name", name, f"holds a tree of size {cp.size}")
                continue
            self.checkpoints.append((cp.size, cp.root_hash))
        self.out.checkpoints = len(self.checkpoints)
        self.out.witnesses = tuple(sorted(witnesses))
        if self.checkpoints and self.checkpoints[-1][0] != manifest.tree_size:
            self.out.fail(
                "checkpoint.tree_size",
                names[-1],
                f"the last checkpoint has size {self.checkpoints[-1][0]},"
                f" the manifest says {manifest.tree_size}",
            )
        data = self._read(bf.CONSISTENCY_FILE)
        if data is None:
            return
        try:
            proofs = bf.decode_proof_records(data, name=bf.CONSISTENCY_FILE)
        except InputError as e:
            self.out.fail("consistency.format", bf.CONSISTENCY_FILE, str(e))
            return
        pairs = list(zip(self.checkpoints, self.checkpoints[1:], strict=False))
        if len(proofs) != len(pairs):
            self.out.fail(
                "consistency.count",
                bf.CONSISTENCY_FILE,
                f"{len(proofs)} proofs for {len(pairs)} successive checkpoint pairs",
            )
        for proof, ((old, old_root), (new, new_root)) in zip(proofs, pairs, strict=False):
            if (proof.a, proof.b) != (old, new):
                self.out.fail(
                    "consistency.pair",
                    bf.CONSISTENCY_FILE,
                    f"proof {proof.a}->{proof.b}, expected {old}->{new}",
                )
                continue
            try:
                merkle.verify_consistency(old, new, proof.hashes, old_root, new_root)
            except InputError as e:
                self.out.fail("consistency.proof", bf.CONSISTENCY_FILE, f"{old}->{new}: {e}")

    def _doc_records(self, name: str) -> list[bf.EntryRecord]:
        data = self._read(name)
        if data is None:
            return []
        try:
            records = list(bf.decode_entry_records(data, name=name))
        except InputError as e:
            self.out.fail("bundle.format", name, str(e))
            return []
        last = -1
        for r in records:
            if r.index <= last:
                self.out.fail("entries.order", name, f"index {r.index} follows {last}", r.index)
            last = r.index
        return records

    def _documents(self) -> None:
        roots = _need(self.roots)
        self._terms()
        for type_name, file_name in (
            ("inventories", bf.INVENTORIES_FILE),
            ("commitments", bf.COMMITMENTS_FILE),
            ("challenges", bf.CHALLENGES_FILE),
            ("verdicts", bf.VERDICTS_FILE),
        ):
            digests = self.docs.setdefault(type_name, {})
            for r in self._doc_records(file_name):
                digests[r.index] = hashlib.sha256(r.envelope).digest()
                try:
                    if type_name == "inventories":
                        self._add_inventory(r.index, verify_inventory(r.envelope, roots))
                    elif type_name == "commitments":
                        self.commitments.append((r.index, verify_commitment(r.envelope, roots)))
                    elif type_name == "challenges":
                        ch = verify_challenge(r.envelope, roots)
                        if ch.nonce in self.challenges:
                            self.out.fail("challenge.duplicate", file_name, "a nonce issued twice", r.index)
                        self.challenges[ch.nonce] = ChallengeRecord(
                            r.index, ch.nonce, ch.issued_unix_ns, ch.expires_unix_ns
                        )
                        self.log_times.append((r.index, ch.issued_unix_ns))
                    else:
                        self.verdicts.append((r.index, r.envelope, verify_verdict(r.envelope, roots)))
                except InputError as e:
                    self.out.fail(
                        f"signature.{type_name.removesuffix('s').replace('ie', 'y')}",
                        file_name,
                        str(e),
                        r.index,
                    )
        self._within_terms()
        self._within_tolerances()

    def _terms(self) -> None:
        """Terms (``terms.bin``, present when the log holds any): each version co-signed by
        the quorum under the auditor's own party keys and following the previous version."""
        digests = self.docs.setdefault("terms", {})  # the log's terms entries must all be here
        if bf.TERMS_FILE not in _need(self.manifest).files:
            return
        roots = _need(self.roots)
        latest: dict[str, Terms] = {}
        for r in self._doc_records(bf.TERMS_FILE):
            digests[r.index] = hashlib.sha256(r.envelope).digest()
            try:
                terms = verify_terms(r.envelope, roots, latest)
            except TermsSuccessionError as e:
                self.out.fail("terms.succession", bf.TERMS_FILE, str(e), r.index)
                continue
            except InputError as e:
                self.out.fail("signature.terms", bf.TERMS_FILE, str(e), r.index)
                continue
            latest[terms.terms_id] = terms
            self.terms.append((r.index, terms))

    def _within_terms(self) -> None:
        """Every logged commitment and inventory was at least as strict as the terms in force
        when it was logged (the verifier's rule at submission, re-checked)."""
        if not self.terms:
            return
        roots = _need(self.roots)
        for index, com in self.commitments:
            in_force = TermsInForce.latest(t for i, t in self.terms if i < index)
            lab = roots.lab(com.lab_id)
            try:
                in_force.check_commitment(Commitment.from_wire(com), lab.facilities if lab else None)
            except InputError as e:
                self.out.fail("terms.commitment", com.commitment_id, str(e), index)
        for index, inv in self.inventory_msgs:
            in_force = TermsInForce.latest(t for i, t in self.terms if i < index)
            try:
                in_force.check_inventory(Inventory.from_wire(inv))
            except InputError as e:
                self.out.fail("terms.inventory", inv.facility_id, str(e), index)

    def _within_tolerances(self) -> None:
        """Every logged inventory within the bounds of the latest version of each commitment
        logged before it, and every logged commitment's bounds holding the latest inventories
        logged before it (``check_tolerances``, the verifier's rule at submission, re-checked):
        a lab may declare narrower bands and less fixed load than it committed to, never more."""
        documents: list[tuple[int, types_pb2.Commitment | types_pb2.Inventory]] = sorted(
            [*self.commitments, *self.inventory_msgs], key=lambda x: x[0]
        )
        commitments: dict[str, Commitment] = {}
        inventories: dict[str, Inventory] = {}
        for index, msg in documents:
            try:
                if isinstance(msg, types_pb2.Inventory):
                    inv = Inventory.from_wire(msg)
                    check_tolerances([inv], commitments.values())
                    known_inv = inventories.get(inv.facility_id)
                    if known_inv is None or known_inv.version < inv.version:
                        inventories[inv.facility_id] = inv
                else:
                    com = Commitment.from_wire(msg)
                    check_tolerances(inventories.values(), [com])
                    known = commitments.get(com.commitment_id)
                    if known is None or known.version < com.version:
                        commitments[com.commitment_id] = com
            except InputError as e:
                if isinstance(msg, types_pb2.Inventory):
                    self.out.fail("tolerance.inventory", msg.facility_id, str(e), index)
                else:
                    self.out.fail("tolerance.commitment", msg.commitment_id, str(e), index)

    def _add_inventory(self, index: int, inv: types_pb2.Inventory) -> None:
        versions = self.inventories.setdefault(inv.facility_id, [])
        earlier = [m.version for _, m in self.inventory_msgs if m.facility_id == inv.facility_id]
        if earlier and inv.version <= max(earlier):
            self.out.fail(
                "inventory.version", inv.facility_id, f"version {inv.version} does not increase", index
            )
        latest_of_others = {m.facility_id: m for _, m in self.inventory_msgs}  # log order: latest wins
        try:
            key_conflict(inv, latest_of_others.values())
        except KeyConflictError as e:
            self.out.fail(KEY_CONFLICT, inv.facility_id, str(e), index)
        keys: dict[str, tuple[str, str, bytes]] = {}
        for node in inv.nodes:
            keys[key_id(node.attestor_public_key)] = ("usage", node.node_id, node.attestor_public_key)
        for meter in inv.meters:
            keys[key_id(meter.public_key)] = ("meter", meter.meter_id, meter.public_key)
        for sch in inv.schedulers:
            keys[key_id(sch.public_key)] = ("accounting", sch.scheduler_id, sch.public_key)
        versions.append(InventoryKeys(index, inv.facility_id, keys))
        self.inventory_msgs.append((index, inv))
        for kid, (_, _, raw) in keys.items():
            self.all_keys[kid] = raw
        series = self.out.series.setdefault(inv.facility_id, FacilitySeries(inv.facility_id))
        series.declared_devices = sum(len(n.accelerators) for n in inv.nodes)
        series.declared_nodes = {n.node_id: len(n.accelerators) for n in inv.nodes}

    # ---------------------------------------------------------------- entries

    def _entries(self) -> None:
        manifest, roots = _need(self.manifest), _need(self.roots)
        path = self.dir / bf.ENTRIES_FILE
        if not path.is_file():
            return
        is_slice = manifest.scope.kind == "slice"
        slice_tree = self.checkpoints[-1] if (is_slice and self.checkpoints) else None
        if is_slice and slice_tree is None:
            return
        context = EntryContext(
            inventories=self.inventories,
            challenges=ChallengeHistory(self.challenges.values()),
            max_clock_skew_ns=roots.max_clock_skew_ns,
            all_keys=self.all_keys,
            slice_tree=slice_tree,
        )
        try:
            tasks = self._plan(path, is_slice)
        except InputError as e:
            self.out.fail("bundle.format", bf.ENTRIES_FILE, str(e))
            return
        total = sum(t.count for t in tasks)
        state = _EntryState(self, is_slice)
        done = 0
        for result in self._run(tasks, context):
            state.absorb(result)
            done += result.count
            if self.opt.progress is not None:
                self.opt.progress(done, total)
        state.finish(total)

    def _plan(self, path: Path, is_slice: bool) -> list[ChunkTask]:
        """Cut the entry file into chunks by scanning record headers only."""
        size_chunk = self.opt.chunk_entries
        if size_chunk < 1 or size_chunk & (size_chunk - 1):
            raise InternalError("chunk size must be a power of two")
        cuts = sorted({s for s, _ in self.checkpoints})
        proofs_path = str(self.dir / bf.INCLUSION_FILE) if is_slice else None
        proof_offsets = self._proof_offsets() if is_slice else []
        tasks: list[ChunkTask] = []
        with path.open("rb") as f:
            length = os.fstat(f.fileno()).st_size
            if length == 0:
                return []
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                offset, position, chunk_start, count = 0, 0, 0, 0
                while offset < length:
                    if offset + _ENTRY_HEAD.size > length:
                        raise bf.BundleFileError(
                            f"{bf.ENTRIES_FILE}: truncated record header at byte {offset}"
                        )
                    _, n = _ENTRY_HEAD.unpack_from(m, offset)
                    if n > bf.MAX_ENTRY_BYTES or offset + _ENTRY_HEAD.size + n > length:
                        raise bf.BundleFileError(
                            f"{bf.ENTRIES_FILE}: truncated or oversized record at byte {offset}"
                        )
                    offset += _ENTRY_HEAD.size + n
                    position += 1
                    count += 1
                    if count == size_chunk or offset == length:
                        first = position - count
                        chunk_cuts = tuple(c for c in cuts if first < c < position) if not is_slice else ()
                        pr = (0, 0)
                        if is_slice:
                            pr = (
                                proof_offsets[min(first, len(proof_offsets) - 1)] if proof_offsets else 0,
                                proof_offsets[min(position, len(proof_offsets) - 1)] if proof_offsets else 0,
                            )
                        tasks.append(
                            ChunkTask(
                                str(path),
                                chunk_start,
                                offset,
                                first,
                                count,
                                chunk_cuts,
                                proofs_path,
                                pr,
                                self._reevaluation_horizon(),
                            )
                        )
                        chunk_start, count = offset, 0
        if is_slice and len(proof_offsets) - 1 != position:
            self.out.fail(
                "proof.count",
                bf.INCLUSION_FILE,
                f"{len(proof_offsets) - 1} inclusion proofs for {position} entries",
            )
        return tasks

    def _reevaluation_horizon(self) -> int:
        """The log size the re-evaluation reads reports below (0: it does not run): the entry
        pass keeps the reports it decodes below it, so entries.bin is decoded once."""
        if not self._reevaluates() or not self.verdicts:
            return 0
        return max(v.evaluated_log_size for _, _, v in self.verdicts)

    def _reevaluates(self) -> bool:
        # A time-range slice lacks the reports before its range that every verdict's
        # compute-to-date reads: its verdicts are signature-checked, not re-derived.
        return self.opt.reevaluate and _need(self.manifest).scope.from_unix_ns is None

    def _proof_offsets(self) -> list[int]:
        """Byte offsets of each inclusion proof record, plus the end."""
        data = self._read(bf.INCLUSION_FILE) or b""
        offsets = [0]
        pos = 0
        while pos < len(data):
            if pos + _PROOF_HEAD.size > len(data):
                raise bf.BundleFileError(f"{bf.INCLUSION_FILE}: truncated at byte {pos}")
            n = _PROOF_HEAD.unpack_from(data, pos)[2]
            pos += _PROOF_HEAD.size + 32 * n
            if pos > len(data):
                raise bf.BundleFileError(f"{bf.INCLUSION_FILE}: truncated at byte {pos}")
            offsets.append(pos)
        return offsets

    def _run(self, tasks: Sequence[ChunkTask], context: EntryContext) -> Iterator[ChunkResult]:
        workers = self.opt.workers or _cores()
        self.out.workers = workers
        if workers <= 1 or len(tasks) <= 1:
            self.out.workers = 1
            for task in tasks:
                yield check_chunk_file(task, context)
            return
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(context,)
        ) as pool:
            # Bounded look-ahead keeps memory flat on huge bundles: results are consumed in
            # log order while at most 4 chunks per worker are in flight.
            pending: list[concurrent.futures.Future[ChunkResult]] = []
            queue = iter(tasks)
            for task in queue:
                pending.append(pool.submit(_worker_check, task))
                if len(pending) >= workers * 4:
                    break
            while pending:
                result = pending.pop(0).result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(_worker_check, nxt))
                yield result

    # ---------------------------------------------------------------- verdicts

    def _reevaluate(self) -> None:
        for index, _, verdict in self.verdicts:
            series = self.out.series.setdefault(
                verdict.facility_id or "*", FacilitySeries(verdict.facility_id or "*")
            )
            series.verdicts.append(
                VerdictMark(
                    verdict.facility_id,
                    verdict.commitment_id,
                    verdict.bucket_start_unix_ns,
                    verdict.bucket_end_unix_ns,
                    _VERDICT_STATUS.get(verdict.status, "UNSPECIFIED"),
                    verdict.reason,
                    True,
                    index=index,
                    revision=verdict.revision,
                    rules=verdict.rules[:MAX_RULES_SHOWN],
                    findings=tuple(
                        FindingMark(
                            f.id,
                            types_pb2.Severity.Name(f.severity).removeprefix("SEVERITY_")
                            if f.severity in types_pb2.Severity.values()
                            else str(f.severity),
                            f.subject,
                            f.start_unix_ns,
                            f.end_unix_ns,
                            f.message,
                            tuple(f.evidence_log_indices),
                        )
                        for f in verdict.findings
                    ),
                )
            )
        self.out.verdicts_checked = len(self.verdicts)
        check_revisions(self.verdicts, self.out)  # every scope holds every verdict
        if not self._reevaluates():
            self.out.verdicts_not_rerun = len(self.verdicts)
        elif self.verdicts:
            reevaluate_verdicts(
                self.reports,
                verdicts=self.verdicts,
                commitments=self.commitments,
                inventories=self.inventory_msgs,
                terms=self.terms,
                freshness=self.freshness,
                log_times=sorted(self.log_times),  # as the verifier's clock: every one, a repeated nonce too
                out=self.out,
                allow_other_rules=self.opt.allow_other_rules,
            )


_T = TypeVar("_T")


def _need(value: _T | None) -> _T:
    if value is None:
        raise InternalError("an audit step ran before the step that sets up its input")
    return value


_CONTEXT: EntryContext | None = None


def _init_worker(context: EntryContext) -> None:
    global _CONTEXT  # noqa: PLW0603 -- the per-process table of a worker pool, set once
    _CONTEXT = context


def _worker_check(task: ChunkTask) -> ChunkResult:
    if _CONTEXT is None:
        raise InternalError("worker used before its initializer ran")
    return check_chunk_file(task, _CONTEXT)


class _EntryState:
    """The main process's in-order view: tree, chains, document cross-check, series."""

    def __init__(self, audit: _Audit, is_slice: bool) -> None:
        self.audit = audit
        self.out = audit.out
        self.is_slice = is_slice
        self.replay = ChainReplay()
        self.stack = merkle.SubtreeStack()  # full chunks are perfect subtrees; a short one is last
        self.cut_roots: dict[int, bytes] = {}
        self.position = 0
        self.last_index = -1
        self.seen_docs: dict[str, dict[int, bytes]] = {}
        self.counts: dict[str, int] = {}

    def absorb(self, r: ChunkResult) -> None:
        out = self.out
        for failure in r.failures:
            out.fail(failure.check, failure.subject, failure.message, failure.index)
        self.audit.freshness.extend(r.freshness)
        self.audit.reports.extend(r.reports)
        out.observations.extend(r.observations)
        if r.count:
            if not self.is_slice and (
                r.first_index != r.position or r.last_index != r.position + r.count - 1
            ):
                out.fail(
                    "entries.index",
                    bf.ENTRIES_FILE,
                    f"entries at positions {r.position}..{r.position + r.count - 1} carry indices"
                    f" {r.first_index}..{r.last_index}; a full bundle holds every index in order",
                    r.first_index,
                )
            if r.first_index <= self.last_index:
                out.fail(
                    "entries.order",
                    bf.ENTRIES_FILE,
                    f"index {r.first_index} follows {self.last_index}",
                    r.first_index,
                )
            self.last_index = r.last_index
        if not self.is_slice and r.count:
            for size, root in r.cut_roots:
                self.cut_roots[size] = self.stack.root(root)
            self.stack.push(r.count, r.root)
            self.cut_roots[self.position + r.count] = self.stack.root()
        self.position += r.count
        for k, v in r.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for doc in r.others:
            self.seen_docs.setdefault(doc.type_name, {})[doc.log_index] = doc.digest
        for link in r.links:
            outcome = self.replay.add(
                CompactLink(link.key_id, link.seq, link.boot_id, link.prev, link.digest)
            )
            subject = f"{link.facility_id}/{link.subject_id}"
            if outcome.kind is LinkKind.DUPLICATE:
                out.fail(
                    "chain.duplicate", subject, f"seq {link.seq} is logged twice, byte for byte", link.index
                )
                continue
            if outcome.new_boot:
                out.observations.append(
                    Observation("chain.new_boot", subject, link.index, "the attestor restarted")
                )
            if outcome.kind is not LinkKind.NEXT:
                detail = ""
                if outcome.missing is not None:
                    detail = f"reports {outcome.missing.start}..{outcome.missing.stop - 1} missing"
                out.observations.append(
                    Observation(f"chain.{outcome.kind.value}", subject, link.index, detail)
                )
        for (facility, minute), values in r.series.items():
            series = out.series.setdefault(facility, FacilitySeries(facility))
            point = series.points.setdefault(minute, SeriesPoint())
            point.add(SeriesPoint(values[0], values[1], values[2], values[3], int(values[4])))
        for facility, (lo, hi) in r.extents.items():
            out.series.setdefault(facility, FacilitySeries(facility)).widen(lo, hi)
        for (facility, period), count in r.periods.items():
            periods = out.series.setdefault(facility, FacilitySeries(facility)).periods
            periods[period] = periods.get(period, 0) + count
        for (facility, node), seconds in r.node_seconds.items():
            nodes = out.series.setdefault(facility, FacilitySeries(facility)).node_seconds
            nodes[node] = nodes.get(node, 0.0) + seconds

    def finish(self, total: int) -> None:
        audit, out = self.audit, self.out
        manifest = audit.manifest
        manifest = _need(manifest)
        if not self.is_slice:
            if total != manifest.tree_size:
                out.fail(
                    "tree.size",
                    bf.ENTRIES_FILE,
                    f"{total} entries, the last checkpoint's tree has {manifest.tree_size}",
                )
            for size, root in audit.checkpoints:
                got = self.cut_roots.get(size) if size else merkle.EMPTY_ROOT
                if got is None:
                    out.fail(
                        "tree.root", bf.checkpoint_file_name(size), "the entries do not reach this tree size"
                    )
                elif got != root:
                    out.fail(
                        "tree.root",
                        bf.checkpoint_file_name(size),
                        "the root rebuilt from the entries differs from the checkpoint's",
                    )
        elif total and self.last_index >= manifest.tree_size:
            out.fail(
                "tree.size",
                bf.ENTRIES_FILE,
                f"index {self.last_index} is beyond the tree of {manifest.tree_size}",
            )
        for type_name, digests in audit.docs.items():
            seen = self.seen_docs.get(type_name, {})
            for index in sorted(set(seen) - set(digests)):
                out.fail(
                    "bundle.documents",
                    type_name,
                    f"the log holds a {type_name} entry the {type_name} file lacks",
                    index,
                )
            for index in sorted(set(digests) - set(seen)):
                out.fail(
                    "bundle.documents", type_name, f"the {type_name} file holds an entry the log lacks", index
                )
            for index in sorted(set(digests) & set(seen)):
                if digests[index] != seen[index]:
                    out.fail("bundle.documents", type_name, f"the {type_name} file and the log differ", index)
        counts = dict(self.counts)
        counts["entries"] = total
        counts["checkpoints"] = len([n for n in manifest.files if n.startswith(bf.CHECKPOINTS_DIR + "/")])
        for name, want in manifest.counts.items():
            have = counts.get(name, 0)
            if have != want:
                out.fail(
                    "bundle.counts", bf.MANIFEST_FILE, f"counts.{name} is {want}, the bundle holds {have}"
                )
        out.counts = {name: counts.get(name, 0) for name in manifest.counts}
