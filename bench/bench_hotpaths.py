"""Per-report costs on the ingest and audit hot paths, each beside what it replaced, measured
in the same run, on a full 8-GPU report (``bench.reports``), next to one Ed25519 verification.

- ``decode``: ``pausewatch.reports.decode_report`` (parse, header checks, finite check); the
  finite check alone, and the descriptor walk that used to be the check (``ListFields`` over
  every message; still the slow path that names a non-finite field).
- ``metrics``: counting a batch of 60 outcomes through children bound once
  (``VerifierMetrics.count_reports``) against ``labels(...).inc()`` per report.
- ``audit_key``: the auditor's per-key verifier cache (``EntryContext.verifier``) against
  building the key (an on-curve check) per entry; the signature check itself is the reference.
Each figure is the best of ``REPEATS`` timed loops (µs per report).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.bench_ed25519 import ed25519_verify_rate
from bench.reports import NodeChain

REPEATS = 5
T0 = 1_767_225_600 * 1_000_000_000


def _us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n)
    return round(best * 1e6, 2)


def run(quick: bool = False) -> dict[str, object]:
    from pausewatch import reports
    from pausewatch.audit.entries import EntryContext
    from pausewatch.envelope import pae, parse_envelope
    from pausewatch.keys import Ed25519Key, Ed25519Signer
    from verifier.metrics import VerifierMetrics

    n = 200 if quick else 5000
    signer = Ed25519Signer.generate()
    chain = NodeChain(signer, "fac-0", "n0", b"\x07" * 32, T0)
    chain.next()
    raw = chain.next()
    envelope = parse_envelope(raw)
    _header, message = reports.decode_report(envelope)

    metrics = VerifierMetrics()
    batch = [(1, 0)] * 60

    def per_report_labels() -> None:
        for d, c in batch:
            metrics.reports.labels(str(d), str(c)).inc()

    context = EntryContext({}, None, 0, {signer.public_key.key_id: signer.public_key.raw})  # type: ignore[arg-type]
    signature, signed = envelope.signatures[0][1], pae(envelope.payload_type, envelope.payload)
    kid, key_raw = signer.public_key.key_id, signer.public_key.raw
    signature_us = round(1e6 / ed25519_verify_rate(0.2 if quick else 1.0), 2)
    return {
        "report_bytes": len(raw),
        "accelerators": len(message.accelerators),  # type: ignore[union-attr]
        "reference_ed25519_verify_us": signature_us,
        "decode": {
            "decode_report_us": _us(lambda: reports.decode_report(envelope), n),
            "finite_check_us": _us(lambda: reports._check_finite(message, "report"), n),
            "finite_check_before_us": _us(lambda: reports._name_non_finite(message, "report"), n),
        },
        "metrics": {
            "bound_children_us_per_report": round(_us(lambda: metrics.count_reports(batch), n) / 60, 3),
            "labels_per_report_before_us": round(_us(per_report_labels, n) / 60, 3),
        },
        "audit_key": {
            "cached_verifier_and_verify_us": _us(lambda: context.verifier(kid).verify(signature, signed), n),
            "key_built_per_entry_and_verify_before_us": _us(
                lambda: Ed25519Key(key_raw).verify(signature, signed), n
            ),
        },
    }
