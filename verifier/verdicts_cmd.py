"""``pausewatch-verifier verdicts``: read signed verdicts from a running verifier.

::

    pausewatch-verifier verdicts --address H:P (--verdict-key KEY | --roots roots.toml)
        [--commitment ID] [--facility ID] [--from TIME] [--to TIME]
        [--status compliant|violation|inconclusive ...] [--superseded] [TLS flags] [--json]

Reads every page of ``GetVerdicts`` (the server filters by commitment, facility and bucket
start; ``--status`` filters here) and verifies each envelope's signature with the verifier's
verdict key before parsing it: a verdict that does not verify is a failure (exit 1), never
shown. TIME is RFC 3339 (``2026-03-02T00:00:00Z``) or a duration before now (``6h``, ``2d``);
``--from`` is inclusive and ``--to`` exclusive, on the bucket start.

The key is the verdict key's public half: base64 of the raw 32 bytes (what ``keygen``
printed), a C2SP vkey, a file holding either, or the ``verdict_key`` of a ``roots.toml`` (what
``export`` writes into a bundle).

``--json`` prints ``{"ok": true, "count": N, "verdicts": [...]}``, each verdict as
:func:`verdict_json` shapes it (times both as RFC 3339 and unix ns).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import Any, Final

import grpc

from pausewatch.envelope import PayloadType, parse_envelope, parse_message, verify_envelope
from pausewatch.errors import InputError
from pausewatch.keys import Ed25519Key
from pausewatch.roots import parse_key_text, parse_roots
from pausewatch.timespec import format_rfc3339, parse_time_flag
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from verifier.admin_cmd import add_client_flags, client_channel
from verifier.cli import EXIT_OK, CheckFailedError, CommandError, emit

__all__ = ["fetch_verdicts", "register", "verdict_json"]

STATUS_NAMES: Final = {
    types_pb2.VERDICT_STATUS_COMPLIANT: "COMPLIANT",
    types_pb2.VERDICT_STATUS_VIOLATION: "VIOLATION",
    types_pb2.VERDICT_STATUS_INCONCLUSIVE: "INCONCLUSIVE",
}
_MAX_PAGES: Final = 100_000  # a server that never stops paging is a fault, not a loop


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "verdicts",
        help="list signed verdicts from a verifier, signatures verified",
        description=__doc__.split("::")[0] if __doc__ else None,
    )
    add_client_flags(p)
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument(
        "--verdict-key", help="the verdict key's public half: base64, vkey, or a file holding it"
    )
    key.add_argument("--roots", type=Path, help="a roots.toml whose verdict_key to use")
    p.add_argument("--commitment", help="only this commitment id")
    p.add_argument("--facility", help="only this facility id")
    p.add_argument("--from", dest="from_", metavar="TIME", help="buckets starting at or after TIME")
    p.add_argument("--to", metavar="TIME", help="buckets starting before TIME")
    p.add_argument(
        "--status",
        action="append",
        choices=["compliant", "violation", "inconclusive"],
        help="only verdicts with this status (repeat for several)",
    )
    p.add_argument("--superseded", action="store_true", help="also list revisions that were superseded")
    p.add_argument("--page-size", type=int, default=1000, help=argparse.SUPPRESS)
    p.set_defaults(run=_run)


def _verdict_key(args: argparse.Namespace) -> Ed25519Key:
    if args.roots is not None:
        try:
            data = args.roots.read_bytes()
        except OSError as e:
            raise CommandError(f"{args.roots}: cannot read: {e.strerror}") from e
        return parse_roots(data, source=str(args.roots)).verdict_key
    try:
        return parse_key_text(args.verdict_key, "--verdict-key")
    except InputError:
        path = Path(args.verdict_key)
        if not path.is_file():
            raise
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"--verdict-key {path}: cannot read: {e}") from e
    return parse_key_text(text, f"--verdict-key {path}")


def fetch_verdicts(
    stub: verifier_pb2_grpc.VerifierStub,
    request: verifier_pb2.GetVerdictsRequest,
    key: Ed25519Key,
    *,
    timeout: float,
) -> list[tuple[bytes, types_pb2.Verdict]]:
    """Every page of ``GetVerdicts``; each envelope verified with ``key`` before it is parsed.
    Raises CheckFailedError on a signature that does not verify."""
    out: list[tuple[bytes, types_pb2.Verdict]] = []
    for _ in range(_MAX_PAGES):
        page = stub.GetVerdicts(request, timeout=timeout)
        for raw in page.envelopes:
            try:
                env = parse_envelope(raw)
                if env.payload_type != PayloadType.VERDICT:
                    raise InputError(f"payload type {env.payload_type!r}, not a verdict")
                verify_envelope(env, key)
                out.append((raw, parse_message(env.payload, types_pb2.Verdict)))
            except InputError as e:
                digest = hashlib.sha256(raw).hexdigest()[:16]
                raise CheckFailedError(
                    f"verdict {digest} from the verifier does not verify with the verdict key"
                    f" {key.key_id[:16]}: {e}"
                ) from e
        if not page.next_page_token:
            return out
        request.page_token = page.next_page_token
    raise CheckFailedError(f"the verifier kept paging past {_MAX_PAGES} pages")


def verdict_json(raw: bytes, v: types_pb2.Verdict) -> dict[str, Any]:
    """The stable JSON shape of one verdict (``verdicts --json``)."""
    return {
        "commitment_id": v.commitment_id,
        "commitment_version": v.commitment_version,
        "facility_id": v.facility_id,
        "bucket_start": format_rfc3339(v.bucket_start_unix_ns),
        "bucket_end": format_rfc3339(v.bucket_end_unix_ns),
        "bucket_start_unix_ns": v.bucket_start_unix_ns,
        "bucket_end_unix_ns": v.bucket_end_unix_ns,
        "status": STATUS_NAMES.get(v.status, "UNSPECIFIED"),
        "revision": v.revision,
        "reason": v.reason,
        "rules": v.rules or None,
        "compute_flop": {
            "lower": v.compute.lower_flop,
            "best": v.compute.best_flop,
            "upper": v.compute.upper_flop,
        },
        "findings": [
            {
                "id": f.id,
                "severity": types_pb2.Severity.Name(f.severity).removeprefix("SEVERITY_")
                if f.severity in types_pb2.Severity.values()
                else "UNSPECIFIED",
                "subject": f.subject,
                "start": format_rfc3339(f.start_unix_ns),
                "end": format_rfc3339(f.end_unix_ns),
                "message": f.message,
                "evidence_log_indices": list(f.evidence_log_indices),
            }
            for f in v.findings
        ],
        "envelope_sha256": hashlib.sha256(raw).hexdigest(),
    }


def _time(args: argparse.Namespace, flag: str, value: str | None, now_ns: int) -> int:
    if value is None:
        return 0
    try:
        return parse_time_flag(value, now_ns)
    except ValueError as e:
        raise CommandError(f"{flag}: {e}") from e


def _run(args: argparse.Namespace) -> int:
    key = _verdict_key(args)
    now = time.time_ns()
    request = verifier_pb2.GetVerdictsRequest(
        commitment_id=args.commitment or "",
        facility_id=args.facility or "",
        from_unix_ns=_time(args, "--from", args.from_, now),
        to_unix_ns=_time(args, "--to", args.to, now),
        include_superseded=args.superseded,
        page_size=max(1, min(args.page_size, 1000)),
    )
    with client_channel(args) as channel:
        try:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            verdicts = fetch_verdicts(stub, request, key, timeout=args.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise CommandError(f"verifier unreachable at {args.address}: {e.details()}") from e
            raise CheckFailedError(f"the verifier refused: {code.name}: {e.details()}") from e
    wanted = {s.upper() for s in args.status or ()}
    rows = [verdict_json(raw, v) for raw, v in verdicts]
    if wanted:
        rows = [r for r in rows if r["status"] in wanted]
    emit(args, {"ok": True, "count": len(rows), "verdicts": rows}, _table(rows))
    return EXIT_OK


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no verdicts match"
    head = ("bucket start", "bucket end", "commitment", "facility", "rev", "status", "findings", "reason")
    lines = [
        (
            r["bucket_start"],
            r["bucket_end"],
            r["commitment_id"],
            r["facility_id"] or "*",
            str(r["revision"]),
            r["status"],
            ",".join(sorted({f["id"] for f in r["findings"]})) or "-",
            r["reason"],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    return "\n".join([fmt.format(*head), *(fmt.format(*line) for line in lines)])
