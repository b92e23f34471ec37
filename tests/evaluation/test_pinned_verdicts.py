"""Verdict bytes pinned: an optimisation of the evaluation changes no result.

The digests are SHA-256 over ``Verdict.SerializeToString(deterministic=True)`` of every verdict
of the scenarios in ``tests.evaluation.golden`` (every finding id, late reports, log prefixes,
re-evaluations with ``previous_log_size``), re-pinned when the evidence model
(summed coverage, per-scope balances with noise-derived thresholds, classifier labels with
causal context) changed what verdicts say, and again when a new inventory version stopped
restarting the ratio baseline's calibration (mixed fleet, seed 1: c1@215), and when calibration
learnt short silences filled, never out-of-band buckets, and restarted when unsteady, and when
a node silent for over a tenth of its last hour stopped counting as proven (the mixed fleet's
silent and undeclared nodes gain a ``workload.low_confidence`` finding; no status changes), and
when a declared accelerator missing from its node's reports (or with invalid values) was allowed
its board power like a silent node (seed 2, commitment 1: fac-a's 1.2 accelerator-equivalents of
unexplained energy fall under the violation threshold once n03's invalid card may have drawn its
board power: two VIOLATIONs become INCONCLUSIVE), and when a node silent for over a tenth of
the bucket itself stopped counting as proven even while its hour was clean (commitment 0, the log
prefix that ends mid-bucket: one node's existing ``workload.low_confidence`` finding also says
"silent for 120 s of the bucket's 600 s" and carries the silence quantities; no status or
severity changes), and when a short bucket with no history before it stopped excusing a lone
uncertain period (the honest training fleet under commitment 0: each node's start-up minute in
its first 10-minute bucket goes from INFO to WARNING ``workload.low_confidence``; that bucket is
VIOLATION before and after);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "31c8ad9e28b8975c1980de76d95903cdbb015af5f82b7d509b16b56c9288126c",
        "c0@168": "842bd17447f22d90430c33301ded2973ea09378606141a240481ad076732f462",
        "c0@215": "5d041fa0cd0e23b54b0a0b20ec8641f0d6290147451b4ae48fd5a0b3c29aa037",
        "c1@82": "c159ea50961b213f7a6ed6e82f2df1a0d4aa85e585f24d8e9a1cb53a9a25c1b8",
        "c1@168": "b067d7a800bfd583c6423925e4fe49477dafc8f1254daad112f60d5dbb135fa2",
        "c1@215": "33de28c7029b2ff4e12af03a1e84b94ca1fa6e60f78228a2d94beb3007ce972e",
        "c2@82": "460282710478eb3fcec89b478af0f665112c0cb6265c9dd71ab7dc1dfdca36da",
        "c2@168": "dc72a88c1a2b778b8e65045afa727cf66422fab27971795ae3eb9f0979e4e049",
        "c2@215": "d81132989ccdb6f4709a67b21d4a5b5abc72b6f37239dcfc4eacca92cd58a1f3",
    },
    2: {
        "c0@81": "49cdf772baff8e6a2dfd088296a17983f6f423ca4860314c19d6ba0d8a39bdda",
        "c0@173": "a825d0f9d75975d38663dac024209cd1362529313cdfd67dce1a850cfd9878f3",
        "c0@220": "109a8517e1d48810b430cb069a8f23428b38a9077d2beeceae5d61259f94de2f",
        "c1@81": "330762f6b8f7198b9e6ef1c39e6da111f2fb5238701fb76339841309066805b0",
        "c1@173": "5141a03572ad2e9c5098a90f3e6953fd17721bad8cf7b9aa633c033ff5e7fbdc",
        "c1@220": "fae0b3b3397c0f081122f688aa231cca7c3403825341070cac68bb8f028490e4",
        "c2@81": "4602ac423e4257227780448687681c5cbde3d3b6d52b41c4ff2361fd0d3b6178",
        "c2@173": "2db56ae76ec88d08e15f0648cf5edaa714df7b136e6a5a92e63f16b2d7df19e1",
        "c2@220": "a69cdb3c91add89014566aae850990e320ff199cfc1aa40cf5a89d242d89afd6",
    },
}

CLEAN = {
    "idle/c0": "b0680293f69417a5ff3b051a2dc0dd20685a86197896bef83d1f27286bff1b45",
    "idle/c1": "45631c56b81ee61898d972aaf8ee841b0e428f2577e2ce2ec37ca78053068b73",
    "inference/c0": "9a7cf1c8e386bdc8442788a29ddbbd89f668d67d483cb8ae03b85ec46b6dce0c",
    "inference/c1": "e6d1b869702ecdaebb52c91ac6162f161d28f5da93e3140d0b456f8b2c32fd5f",
    "training/c0": "f53f0c0e50d2a3bc6e19830f4eb204db037d177f6acc9d9c237e71859b8ef98b",
    "training/c1": "0cc7dc13d1d5fc13c1155da829a4dd1b2f3a8e393902c8b0d00532db7975478e",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN
