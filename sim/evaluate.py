"""Verdicts from a verifier's log, the way an auditor derives them.

Reads every log entry over gRPC (``GetEntries``), keeps the lab-signed inventories and the
commitment (signatures checked against the labs' keys), verifies every report against the key
its facility's inventory enrols, and runs ``pausewatch.evaluation`` — the same pure code the
verifier's scheduler and the offline audit run — over the whole log prefix.

The runners use it when the verifier they talk to serves no verdicts of its own (no evaluation
scheduler configured); the verdicts it produces are then unsigned recomputations, and the run's
notes say so.
"""

from __future__ import annotations

from collections.abc import Sequence

from pausewatch.commitment import Commitment
from pausewatch.envelope import PayloadType, parse_envelope, verify_envelope, verify_threshold
from pausewatch.errors import InputError
from pausewatch.evaluation.ingest import derive_ingest_findings
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.evaluation.verdict import Evaluator
from pausewatch.freshness import NO_CHALLENGE, challenge_is_live
from pausewatch.inventory import Inventory
from pausewatch.keys import Ed25519Key, PublicKey
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

__all__ = ["evaluate_log", "read_log"]

_PAGE = 1000


async def read_log(
    stub: verifier_pb2_grpc.VerifierStub, size: int, *, deadline_s: float = 30.0
) -> list[bytes]:
    """Entries [0, size) of the verifier's log."""
    entries: list[bytes] = []
    while len(entries) < size:
        resp = await stub.GetEntries(
            verifier_pb2.GetEntriesRequest(start=len(entries), end=min(size, len(entries) + _PAGE)),
            timeout=deadline_s,
        )
        if not resp.entries:
            raise InputError(f"the verifier returned no entries at {len(entries)} of {size}")
        entries.extend(resp.entries)
    return entries


def evaluate_log(
    entries: Sequence[bytes], lab_keys: dict[str, PublicKey], commitment_id: str, until_ns: int,
    *, challenge_key: PublicKey, max_clock_skew_ns: int,
) -> list[types_pb2.Verdict]:
    """Every verdict of ``commitment_id`` for buckets ending by ``until_ns``, from the log.

    Ingest findings are re-derived from the log: chain findings by ``derive_ingest_findings``,
    freshness by the shared rule (``pausewatch.freshness``) against the logged challenges.
    """
    inventories: dict[str, Inventory] = {}
    commitment: Commitment | None = None
    reports: list[LoggedReport] = []
    enrolled: dict[str, Ed25519Key] = {}
    challenges: dict[bytes, types_pb2.Challenge] = {}
    for index, raw in enumerate(entries):
        env = parse_envelope(raw)
        if env.payload_type == PayloadType.INVENTORY:
            msg = env.decode_payload()
            assert isinstance(msg, types_pb2.Inventory)
            verify_threshold(env, [lab_keys[msg.lab_id]], 1)
            inventories[msg.facility_id] = Inventory.from_wire(msg)
            for node in msg.nodes:
                k = Ed25519Key(node.attestor_public_key)
                enrolled[k.key_id] = k
            for meter in msg.meters:
                k = Ed25519Key(meter.public_key)
                enrolled[k.key_id] = k
        elif env.payload_type == PayloadType.COMMITMENT:
            msg_c = env.decode_payload()
            assert isinstance(msg_c, types_pb2.Commitment)
            if msg_c.commitment_id == commitment_id:
                verify_threshold(env, [lab_keys[msg_c.lab_id]], 1)
                commitment = Commitment.from_wire(msg_c)
        elif env.payload_type == PayloadType.CHALLENGE:
            verify_envelope(env, challenge_key)
            ch = env.decode_payload()
            assert isinstance(ch, types_pb2.Challenge)
            challenges[ch.nonce] = ch
        elif env.payload_type in (PayloadType.USAGE_REPORT, PayloadType.METER_REPORT):
            key = next((enrolled[k] for k, _ in env.signatures if k in enrolled), None)
            if key is None:
                continue  # not enrolled: the verifier would not have logged it; ignore
            verify_envelope(env, key)
            reports.append(LoggedReport.from_verified(index, env))
    if commitment is None:
        raise InputError(f"commitment {commitment_id!r} is not in the log")
    findings = list(derive_ingest_findings(reports))
    for r in reports:
        h = r.header
        ch = challenges.get(h.challenge_nonce)
        if ch is None:
            stale = h.challenge_nonce == NO_CHALLENGE
            fid = "freshness.stale_challenge" if stale else "freshness.unknown_challenge"
        elif not challenge_is_live(ch.issued_unix_ns, ch.expires_unix_ns, h.period_start_ns, h.period_end_ns,
                                   max_clock_skew_ns):
            fid = "freshness.stale_challenge"
        else:
            continue
        findings.append(IngestFinding(fid, r.log_index, h.key_id, h.facility_id, h.subject_id,
                                      h.period_start_ns, h.period_end_ns, "challenge not live"))
    inputs = EvaluationInput(
        commitment=commitment, inventories=inventories, reports=reports,
        ingest_findings=findings, evaluated_log_size=len(entries),
    )
    evaluator = Evaluator(inputs)
    out = []
    for fid in inputs.facilities:
        for start, end in commitment.buckets(until_ns):
            if end <= until_ns:
                out.append(evaluator.verdict(BucketRef(fid, start, end)))
    return out

