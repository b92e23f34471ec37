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
VIOLATION before and after), and when a bucket's verdict began to label a job's periods before
its first training evidence in the bucket as training in hindsight, never counted as evidence
(``training_s`` and ``ambiguous_s`` move between each other on the nodes whose job showed its
structure mid-bucket, the mean score with them, and the honest training fleet's start-up
minute loses the WARNING above again; no status or severity of any other finding changes);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "11da157c3f7c3193b1ffe2efbd054c298d849a3e9834af7d893fcb693cbee8e5",
        "c0@168": "dee46ffdd3c1d2ae8c10558b84015fc9e1bc53efca124078b948b8cb1ca237a0",
        "c0@215": "7b53714f74b3b9cbc0fe8ef22034155a67a4b1c721370f0b86b6639eed0f0897",
        "c1@82": "ed3c794daa321828fb8b3ff1dfa640247ab49002f0016502c1bd535af2f1d788",
        "c1@168": "4cfc0220f717df7eb01d2dd529ad4a6f9d3fbffd49224a97b4df350d41d665a3",
        "c1@215": "b10f319d1a0277ebd6d481192faea502c6a1ccb09581052044db00a9440f474b",
        "c2@82": "460282710478eb3fcec89b478af0f665112c0cb6265c9dd71ab7dc1dfdca36da",
        "c2@168": "dc72a88c1a2b778b8e65045afa727cf66422fab27971795ae3eb9f0979e4e049",
        "c2@215": "d81132989ccdb6f4709a67b21d4a5b5abc72b6f37239dcfc4eacca92cd58a1f3",
    },
    2: {
        "c0@81": "9b95f56cd937efe90225b7bc47106096b7378a49ceb8ab4b0cf2a59edf15925d",
        "c0@173": "1fd722e1f6f98a7d622e5e3910b0aefe173dec6b2647847126a1b9abfb4014c1",
        "c0@220": "47f68bc1df560277c4ea8bc1e6a0dac70b523e80baaeb8c8a30e3b3bd8734324",
        "c1@81": "1783c6501de22e9badc327af501ca7c808cd6aded5a0b5471482104b927761f6",
        "c1@173": "7777be01ac70d4ace26684660165e403d9564abbc48ebd9769036f9ecfb5973c",
        "c1@220": "ac3ae1fe6866d103880a6d4cac839e07279db443e636d9d869ed5faaadfdc763",
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
    "training/c0": "f23c00c268102cfd4ae24c868a139d9dd8a24bca53ce4381ed0461b8d78bb72e",
    "training/c1": "65d42f3f9abedf8be98b4a8cc10c44e18d8357de23b8ac5a1f51b6256565079d",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN
