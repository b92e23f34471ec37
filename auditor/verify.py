"""``pausewatch-audit verify`` and ``pausewatch-audit extract``: the offline audit of a bundle.

::

    pausewatch-audit verify BUNDLE --policy FILE --roots FILE [--html FILE] [--workers N] [--json]
                            [--trust-bundle-keys] [--allow-unrerun-verdicts] [--allow-other-rules]
                            [--witness-checkpoint FILE]...
    pausewatch-audit extract BUNDLE --index N --out DIR [--policy FILE]

``verify`` checks everything a bundle claims (see :mod:`auditor.pipeline`); the bundle's
head checkpoint must carry the policy's witness quorum, and each ``--witness-checkpoint`` (a
cosigned checkpoint fetched from a witness) must agree with the bundle
(``witness.checkpoint``; :func:`pausewatch.roots.check_witness_checkpoint`). BUNDLE is
a directory or a ``.tar.gz`` of one. The auditor trusts only the keys it brings: without both
``--policy`` and ``--roots`` the audit fails (``trust.unpinned``), because a bundle that vouches
for itself proves nothing. ``--trust-bundle-keys`` uses the bundle's own trust files instead,
for a quick look only (the summary says so in capitals). A time-range slice cannot re-derive
its verdicts (they read compute to date from before the range): that fails too
(``verdict.not_rerun``) unless ``--allow-unrerun-verdicts`` accepts signature-checked verdicts.
A verdict made under other evaluation rules than this release's that it re-derives differently
is unverified here (``verdict.rules``, see :mod:`auditor.reevaluate`): a failure unless
``--allow-other-rules`` lists it instead — for a bundle that spans a change of rules, audited
by each release for its own verdicts. Exit 0: every check passed and every verdict was
re-derived (or, so accepted, listed); 1: something failed (each failure
is named: check id, subject, log index, message); 2: the tool could not run (unreadable path, a
future bundle version, a bad --policy/--roots).

``extract`` writes one entry (``entry-<N>.bin``, its exact envelope bytes) and a C2SP
tlog-proof (``entry-<N>.tlog-proof``) against the bundle's last checkpoint, so that the entry
can be shown to a third party on its own and checked with ``pausewatch-audit proof verify``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from auditor.common import Subcommands, ToolError, TrustInputError, read_input_file
from auditor.outcome import AuditOutcome, VerdictMark
from auditor.pipeline import AuditOptions, audit_bundle
from auditor.pipeline import TrustInputError as AuditTrustError
from auditor.report_html import write_report
from pausewatch import bundle as bf
from pausewatch import merkle
from pausewatch.checkpoint import parse_checkpoint
from pausewatch.errors import EnvironmentFaultError, InputError, VerificationError
from pausewatch.files import bundle as bf_files
from pausewatch.note import parse_note
from pausewatch.policy import Policy, check_checkpoint, parse_policy
from pausewatch.roots import AuditRoots, check_witness_checkpoint, parse_roots
from pausewatch.timespec import format_rfc3339
from pausewatch.tlog_proof import TlogProof

__all__ = ["AuditFailedError", "open_bundle", "register", "summary_lines"]


class AuditFailedError(VerificationError):
    """The audit ran and something failed; ``details`` holds the machine-readable outcome."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@contextmanager
def open_bundle(path: Path) -> Iterator[Path]:
    """A bundle directory for ``path``: itself, or a safe temporary unpacking of an archive."""
    if path.is_dir():
        yield path
        return
    if not path.exists():
        raise ToolError(f"bundle {str(path)!r}: no such file or directory")
    with tempfile.TemporaryDirectory(prefix="pausewatch-audit-") as tmp:
        try:
            yield bf_files.extract_archive(path, Path(tmp))
        except EnvironmentFaultError as e:
            raise ToolError(str(e)) from e


def _load_trust(args: argparse.Namespace) -> tuple[Policy | None, AuditRoots | None]:
    policy = roots = None
    if args.policy is not None:
        try:
            policy = parse_policy(read_input_file(args.policy, "policy file"))
        except InputError as e:
            raise TrustInputError(f"policy {str(args.policy)!r}: {e}") from e
        if not policy.logs:
            raise TrustInputError(f"policy {str(args.policy)!r} lists no log key; nothing could verify")
    if args.roots is not None:
        try:
            roots = parse_roots(read_input_file(args.roots, "roots file"), source=str(args.roots))
        except InputError as e:
            raise TrustInputError(str(e)) from e
    return policy, roots


class _Progress:
    """A one-line bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        width = 40
        filled = int(width * done / total) if total else width
        rate = done / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} entries {rate:,.0f}/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def outcome_details(out: AuditOutcome) -> dict[str, Any]:
    return {
        "bundle": out.bundle,
        "ok": out.ok,
        "origin": out.origin,
        "tree_size": out.tree_size,
        "scope": out.scope,
        "trust": out.trust_source,
        "pinned": out.pinned,
        "counts": out.counts,
        "checkpoints_verified": out.checkpoints,
        "witnesses": list(out.witnesses),
        "verdicts_checked": out.verdicts_checked,
        "verdicts_matched": out.verdicts_matched,
        "verdicts_not_rerun": out.verdicts_not_rerun,
        "verdicts_other_rules": out.verdicts_other_rules,
        "other_rules": [
            {"check": f.check, "subject": f.subject, "index": f.index, "message": f.message}
            for f in out.other_rules
        ],
        "failed_checks": out.failed_checks(),
        "failures": [
            {"check": f.check, "subject": f.subject, "index": f.index, "message": f.message}
            for f in out.failures
        ],
        "failures_not_listed": out.dropped_failures,
        "observations": _observation_counts(out),
        "trusted_keys": [{"role": r, "name": n, "key_id": k} for r, n, k in out.trusted_keys],
        "verdicts": [_verdict_details(m) for _, s in sorted(out.series.items()) for m in s.verdicts],
        "seconds": round(out.seconds, 3),
        "workers": out.workers,
        "entries_per_s": round(out.counts.get("entries", 0) / out.seconds, 1) if out.seconds else None,
    }


def _verdict_details(m: VerdictMark) -> dict[str, Any]:
    """One logged verdict in ``--json``: what it says, and what re-running it found
    (``rerun``: match, mismatch, other rules or not re-run; ``rederived_status`` when it ran;
    ``rules``: the evaluation rules it names, null when none)."""
    return {
        "log_index": m.index,
        "commitment_id": m.commitment_id,
        "facility_id": m.facility_id,
        "bucket_start": format_rfc3339(m.start_ns),
        "bucket_end": format_rfc3339(m.end_ns),
        "revision": m.revision,
        "status": m.status,
        "reason": m.reason,
        "rerun": m.rerun,
        "rederived_status": m.rederived_status or None,
        "rules": m.rules or None,
        "findings": [
            {
                "id": f.id,
                "severity": f.severity,
                "subject": f.subject,
                "start": format_rfc3339(f.start_ns),
                "end": format_rfc3339(f.end_ns),
                "message": f.message,
                "evidence_log_indices": list(f.evidence),
            }
            for f in m.findings
        ],
    }


def _observation_counts(out: AuditOutcome) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in out.observations:
        counts[o.finding] = counts.get(o.finding, 0) + 1
    return dict(sorted(counts.items()))


def summary_lines(out: AuditOutcome) -> list[str]:
    """The human summary: what was checked, under whose keys, and everything that failed."""
    lines = [
        f"bundle       {out.bundle}",
        f"log          {out.origin} (tree size {out.tree_size}, scope {out.scope})",
        f"trust        {out.trust_source}",
    ]
    if not out.pinned:
        lines.append(
            "WARNING      trust keys came from the bundle itself: this shows the bundle is"
            " self-consistent, not that it comes from the log you trust. Pass --policy and --roots."
        )
    counts = ", ".join(f"{v} {k}" for k, v in out.counts.items() if v)
    evidence = ", ".join(f"{k} x{v}" for k, v in _observation_counts(out).items())
    lines += [
        f"checked      {counts or 'nothing'}",
        f"checkpoints  {out.checkpoints} verified; witnesses: {', '.join(out.witnesses) or 'none'}",
        f"verdicts     {out.verdicts_checked} signed; {out.verdicts_matched} re-derived and matching"
        + (
            f"; {out.verdicts_not_rerun} NOT re-run (a time slice lacks their inputs)"
            if out.verdicts_not_rerun
            else ""
        )
        + (
            f"; {out.verdicts_other_rules} of other evaluation rules re-derived differently: UNVERIFIED"
            if out.verdicts_other_rules
            else ""
        ),
        f"evidence     {evidence or 'nothing notable'}",
        f"time         {out.seconds:.2f} s on {out.workers} worker(s)",
    ]
    if out.ok and out.verdicts_other_rules:
        lines.append(
            f"RESULT       VERIFIED except {out.verdicts_other_rules} verdict(s) UNVERIFIED: made under other"
            " evaluation rules and re-derived differently (accepted by --allow-other-rules)"
        )
        lines += [f"  UNVERIFIED {f.describe()}" for f in out.other_rules]
        if out.verdicts_other_rules > len(out.other_rules):
            lines.append(f"  ... and {out.verdicts_other_rules - len(out.other_rules)} more")
    elif out.ok:
        lines.append("RESULT       VERIFIED")
    else:
        lines.append(f"RESULT       FAILED ({len(out.failures) + out.dropped_failures} failures)")
        lines += [f"  FAIL {f.describe()}" for f in out.failures]
        if out.dropped_failures:
            lines.append(f"  ... and {out.dropped_failures} more")
    return lines


def _verify(args: argparse.Namespace) -> dict[str, Any]:
    if args.html is not None and args.html.exists() and not args.force:
        raise ToolError(f"{args.html}: already exists; refusing to overwrite it (pass --force)")
    policy, roots = _load_trust(args)
    options = AuditOptions(
        policy=policy,
        roots=roots,
        workers=args.workers,
        progress=_Progress(not _json(args)),
        allow_other_rules=args.allow_other_rules,
    )
    with open_bundle(args.bundle) as directory:
        try:
            out = audit_bundle(directory, options)
        except bf.BundleVersionError as e:
            raise ToolError(str(e)) from e
        except AuditTrustError as e:
            raise TrustInputError(str(e)) from e
        except bf.BundleFileError as e:
            raise VerificationError(str(e)) from e
        _check_witness_checkpoints(out, directory, args.witness_checkpoint, policy)
    out.bundle = str(args.bundle)
    _strict(out, args)
    if args.html is not None:
        write_report(out, args.html)
    details = outcome_details(out)
    if not _json(args):
        print("\n".join(summary_lines(out)))
    if not out.ok:
        first = out.failures[0].describe() if out.failures else "too many failures"
        raise AuditFailedError(
            f"{len(out.failures) + out.dropped_failures} check(s) failed [{', '.join(out.failed_checks())}];"
            f" first: {first}",
            details,
        )
    details["summary"] = (
        f"{out.counts.get('entries', 0)} entries of {out.origin} verified in {out.seconds:.2f} s"
        + ("" if out.pinned else " (UNPINNED: the bundle's own trust keys)")
    )
    return details


def _check_witness_checkpoints(
    out: AuditOutcome, directory: Path, files: Sequence[Path], policy: Policy | None
) -> None:
    """``--witness-checkpoint``: each must agree with the bundle (pausewatch.roots)."""
    if not files:
        return
    if policy is None:
        try:
            policy = parse_policy((directory / bf.POLICY_FILE).read_bytes())
        except (OSError, InputError) as e:
            raise ToolError(f"--witness-checkpoint needs a policy; the bundle's is unusable: {e}") from e
    roots: dict[int, bytes] = {}
    folder = directory / bf.CHECKPOINTS_DIR
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        with suppress(OSError, InputError):  # the audit above judged these files
            text = parse_note(path.read_bytes()).text
            cp = parse_checkpoint(text)
            roots[cp.size] = cp.root_hash
    head = max(roots, default=0)
    for file in files:
        note = read_input_file(file, "witness checkpoint")
        try:
            check_witness_checkpoint(note, policy, roots, head)
        except VerificationError as e:
            out.fail("witness.checkpoint", str(file), str(e))


def _strict(out: AuditOutcome, args: argparse.Namespace) -> None:
    """What the audit could not establish is a failure unless the user accepted it by name."""
    if not out.pinned and not args.trust_bundle_keys:
        missing = " and ".join(
            flag for flag, given in (("--policy", args.policy), ("--roots", args.roots)) if given is None
        )
        out.fail(
            "trust.unpinned",
            missing,
            "not given: the bundle's own trust keys would only show that it is self-consistent,"
            " not that it comes from the log and the labs you trust. Pass your --policy and --roots"
            " (or --trust-bundle-keys for a quick look only)",
        )
    if out.verdicts_not_rerun and not args.allow_unrerun_verdicts:
        out.fail(
            "verdict.not_rerun",
            out.scope,
            f"{out.verdicts_not_rerun} verdict(s) were signature-checked but not re-derived (a time"
            " slice lacks the reports before its range that compute to date reads); audit a full"
            " bundle, or pass --allow-unrerun-verdicts to accept them",
        )


def _extract(args: argparse.Namespace) -> dict[str, Any]:
    with open_bundle(args.bundle) as directory:
        try:
            manifest = bf.parse_manifest(read_input_file(directory / bf.MANIFEST_FILE, "manifest"))
        except bf.BundleVersionError as e:
            raise ToolError(str(e)) from e
        last = bf.checkpoint_file_name(manifest.tree_size)
        note = read_input_file(directory / last, "checkpoint")
        entry: bytes | None = None
        leaves: list[bytes] = []
        proof: tuple[bytes, ...] | None = None
        with (directory / bf.ENTRIES_FILE).open("rb") as f:
            for position, record in enumerate(bf.iter_entry_file(f)):
                if record.index == args.index:
                    entry = record.envelope
                    if manifest.scope.kind == "slice":
                        with (directory / bf.INCLUSION_FILE).open("rb") as pf:
                            for n, p in enumerate(bf.iter_proof_file(pf, name=bf.INCLUSION_FILE)):
                                if n == position:
                                    proof = p.hashes
                                    break
                        break
                if manifest.scope.kind == "full":
                    leaves.append(merkle.leaf_hash(record.envelope))
        if entry is None:
            raise VerificationError(f"the bundle holds no entry with log index {args.index}")
        if proof is None:
            proof = tuple(merkle.inclusion_proof(args.index, manifest.tree_size, _Leaves(leaves)))
    args.out.mkdir(parents=True, exist_ok=True)
    entry_path = args.out / f"entry-{args.index}.bin"
    proof_path = args.out / f"entry-{args.index}.tlog-proof"
    tlog = TlogProof(args.index, proof, note)
    entry_path.write_bytes(entry)
    proof_path.write_bytes(tlog.format())
    details: dict[str, Any] = {"entry": str(entry_path), "proof": str(proof_path), "index": args.index}
    if args.policy is not None:
        policy, _ = _load_trust(argparse.Namespace(policy=args.policy, roots=None))
        if policy is not None:
            cp = check_checkpoint(note, policy).checkpoint
            merkle.verify_inclusion(merkle.leaf_hash(entry), args.index, cp.size, proof, cp.root_hash)
    details["summary"] = f"wrote {entry_path} and {proof_path}"
    return details


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


class _Leaves:
    """Subtree hashes over leaf hashes held in memory (one proof for ``extract``)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves

    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in nodes:
            start = index << level
            out.append(merkle.root_of(self.leaves[start : start + (1 << level)]))
        return out


def register(subparsers: Subcommands) -> None:
    """Add ``verify`` and ``extract`` to ``pausewatch-audit``."""
    verify = subparsers.add_parser(
        "verify",
        help="audit a whole bundle offline",
        description=(
            "Rebuild the log's tree and check it against every checkpoint under the policy;"
            " verify every signature against keys enrolled by logged inventories; replay every"
            " chain and challenge; re-run the evaluation and compare every verdict."
            " Only the keys in your --policy and --roots are trusted: without them the audit"
            " fails unless --trust-bundle-keys (a quick look only)."
            " Exit 0: verified; 1: something failed (named); 2: could not run."
        ),
    )
    verify.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle directory or .tar.gz")
    verify.add_argument(
        "--policy", type=Path, help="your C2SP tlog-policy (log key, witnesses, quorum); required"
    )
    verify.add_argument(
        "--roots", type=Path, help="your roots.toml (lab, verdict and challenge keys); required"
    )
    verify.add_argument(
        "--trust-bundle-keys",
        action="store_true",
        help="without --policy/--roots, trust the bundle's own policy.txt and roots.toml:"
        " for a quick look only (it shows self-consistency, not provenance)",
    )
    verify.add_argument(
        "--allow-unrerun-verdicts",
        action="store_true",
        help="accept verdicts that could be signature-checked but not re-derived (time-range slices)",
    )
    verify.add_argument(
        "--allow-other-rules",
        action="store_true",
        help="list, instead of failing, verdicts made under other evaluation rules than this"
        " release's that it re-derives differently (verdict.rules): unverified here, for the"
        " release with their rules to check",
    )
    verify.add_argument(
        "--witness-checkpoint",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a cosigned checkpoint you fetched from a witness (GET <witness>/checkpoint/<origin>);"
        " the bundle must agree with it (repeatable)",
    )
    verify.add_argument("--html", type=Path, help="also write a self-contained HTML report here")
    verify.add_argument("--force", action="store_true", help="replace the --html file if it exists")
    verify.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    verify.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON on stdout")
    verify.set_defaults(handler=_verify, command="verify")

    extract = subparsers.add_parser(
        "extract",
        help="write one entry and its tlog-proof from a bundle",
        description="Write entry-N.bin and entry-N.tlog-proof for `pausewatch-audit proof verify`.",
    )
    extract.add_argument("bundle", type=Path, metavar="BUNDLE")
    extract.add_argument("--index", type=int, required=True, help="the entry's log index")
    extract.add_argument("--out", type=Path, required=True, help="directory to write into")
    extract.add_argument("--policy", type=Path, help="check the proof under this policy before writing")
    extract.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON on stdout")
    extract.set_defaults(handler=_extract, command="extract")
