"""What the per-report hot paths were made cheaper without changing: the digest computed once,
the chain rule on a digest the caller holds, the per-key quota spent with one reading, a
header row read back without the Enum call."""

from __future__ import annotations

import math

import pytest

from pausewatch import reports
from pausewatch.chain import ChainState, NewLink, classify_link
from pausewatch.envelope import ParsedEnvelope, PayloadType, envelope_digest, parse_envelope
from pausewatch.errors import FormatError
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2
from sim.factories import NS, T0, UsageChain, seeded_signer
from verifier.errors import RateLimitedError
from verifier.ingest import AdmittedReport, Enrollment, RateLimiter, admit_batch
from verifier.metrics import VerifierMetrics


def _admitted(count: int) -> list[AdmittedReport]:
    key = seeded_signer("node-0")
    inv = types_pb2.Inventory(facility_id="fac", lab_id="lab", version=1)
    inv.nodes.add(node_id="n0", attestor_public_key=key.public_key.raw)
    chain = UsageChain(key, facility_id="fac", node_id="n0", nonce=b"\x07" * 32)
    out = admit_batch(
        [chain.next() for _ in range(count)], Enrollment.from_inventories([inv]), max_envelope_bytes=1 << 20
    )
    assert all(isinstance(a, AdmittedReport) for a in out)
    return out  # type: ignore[return-value]


def test_an_admitted_reports_digest_is_its_envelopes_and_a_known_digest_decides_as_the_bytes_do() -> None:
    first, second = _admitted(2)
    assert first.digest == envelope_digest(first.envelope.raw)
    head = NewLink(first.header, first.envelope.raw)
    new = NewLink(second.header, second.envelope.raw)
    state = ChainState(head)
    plain = classify_link(state, new)
    known = classify_link(
        ChainState(NewLink(first.header, first.envelope.raw, first.digest)),
        NewLink(second.header, second.envelope.raw, second.digest),
    )
    assert plain == known
    assert plain.kind.value == "next"
    # a replay of the head: a duplicate either way
    assert (
        classify_link(state, head).kind
        == classify_link(state, NewLink(head.header, head.envelope, first.digest)).kind
    )


def test_a_quota_spends_only_when_it_holds_enough_and_refills_with_time() -> None:
    limiter = RateLimiter(60, 2)  # one token a second, two saved up
    limiter.take("k", T0)
    limiter.take("k", T0)
    with pytest.raises(RateLimitedError, match="over its quota"):
        limiter.check("k", T0)
    with pytest.raises(RateLimitedError):
        limiter.take("k", T0)
    assert limiter.changes == 2  # the refusal spent nothing
    limiter.take("k", T0 + NS)  # a second later: one token back
    with pytest.raises(RateLimitedError):
        limiter.take("k", T0 + NS, 2)
    assert limiter.snapshot(T0 + NS) == {"k": (0.0, T0 + NS)}


def test_a_header_row_reads_back_and_a_bad_kind_is_refused() -> None:
    (report,) = _admitted(1)
    row = report.header.row()
    assert ReportHeader.from_row(row) == report.header
    assert ReportHeader.from_row(row).kind is ReportKind.USAGE
    with pytest.raises(ValueError):
        ReportHeader.from_row(("nonsense", *row[1:]))


def test_a_non_finite_or_huge_value_is_refused_and_named() -> None:
    # A finite 1e160 W passed the check that only looked for non-finite bit patterns, and the
    # evaluation's squares overflowed on it: every verdict stopped (a red team, 2026-12-05).
    key = seeded_signer("node-0")
    chain = UsageChain(key, facility_id="fac", node_id="n0", nonce=b"\x07" * 32)
    message = types_pb2.UsageReport()
    message.ParseFromString(parse_envelope(chain.next()).payload)
    cases = (
        (math.nan, r"node\.cpu_busy_s is nan: wire values must be finite"),
        (-math.inf, r"node\.cpu_busy_s is -inf"),
        (float.fromhex("0x1.fffffffffffffp+1023"), r"node\.cpu_busy_s is 1\.79.*at most 1e\+30"),
        (1e160, r"node\.cpu_busy_s is 1e\+160: wire values must be at most 1e\+30 in magnitude"),
        (-2e30, r"at most 1e\+30"),
        (1e30, None),
        (-1e30, None),
    )
    for value, refused in cases:
        message.node.cpu_busy_s = value
        wire = message.SerializeToString(deterministic=True)
        envelope = ParsedEnvelope(b"", PayloadType.USAGE_REPORT, wire, ((key.public_key.key_id, b""),))
        if refused:
            with pytest.raises(FormatError, match=refused):
                reports.decode_report(envelope)
        else:
            reports.decode_report(envelope)
    message.node.cpu_busy_s = 1.0
    message.accelerators[0].power_mean_w = 1e160
    wire = message.SerializeToString(deterministic=True)
    envelope = ParsedEnvelope(b"", PayloadType.USAGE_REPORT, wire, ((key.public_key.key_id, b""),))
    with pytest.raises(FormatError, match=r"accelerators\[0\]\.power_mean_w is 1e\+160"):
        reports.decode_report(envelope)


def test_a_batchs_findings_are_counted_per_id() -> None:
    metrics = VerifierMetrics()
    metrics.count_findings(["freshness.stale_challenge"] * 59 + ["chain.gap"])
    metrics.count_findings([])
    metrics.count_findings(["chain.gap"])
    value = metrics.registry.get_sample_value
    assert value("pausewatch_verifier_findings_total", {"finding_id": "freshness.stale_challenge"}) == 59
    assert value("pausewatch_verifier_findings_total", {"finding_id": "chain.gap"}) == 2
