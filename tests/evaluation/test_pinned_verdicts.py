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
minute loses the WARNING above again; no status or severity of any other finding changes),
and when a node silent a minute or more while no meter around it read became
``energy.silent_draw`` WARNING on the node (the mixed fleet's log prefixes that end mid-bucket,
where a node's and the meter's last minutes are both still to come: no status changes), and
when a node's silence no meter scope had the time to compare with became the same finding (the
mixed fleet's 3- and 5-minute buckets with a silent minute, already INCONCLUSIVE: no status
changes), and when a minute in which a computing device holds a model's size more memory than at
its last reading stopped being proof of inference (a start-up; the mixed fleet's nodes switch
between idle, inference and training at random: inference minutes right after idle ones (500
MiB, then 40 GiB) move from ``inference_s`` to ``ambiguous_s``; no status or severity changes);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "97920a092b2b33ef13d210cab66243f75c5fd2eb892e24fdbe49fdafffda1904",
        "c0@168": "35b2c6314302e8fefbab0c26f6db36fcabece702c19f74b7546c8d6b7336b2d2",
        "c0@215": "d11cd92b51f1dc16f9b0590f71870d40e67f532b626183653dc1d5083b196351",
        "c1@82": "cac27e1502ed9b9ede55953828d03defe0ce631ed0ee9737c1c1e5163c9e0f1b",
        "c1@168": "c03e64e8b19baba46e240dc670c00a8a1e29079d14cf8270c005f91408d67af1",
        "c1@215": "0463e1193493c3b40bf97987ea992e3f89323f956b1eee27b882783e0fec2414",
        "c2@82": "c5f9bd80296058aa7e30024e8ee8416941b9b738f835ecc95b67f09c43e24368",
        "c2@168": "015e7f537533e8ac5f7ec26d922c7d2149a7a45403aab95803ab536de19403a4",
        "c2@215": "b9e55b2086dbffdeb8dc76ad8432420d26f448d26b0f91a9532c4eded2660c5a",
    },
    2: {
        "c0@81": "8bffb3f1a9998e2bbdd206d11cae6283eed4fd91f930a6c6031a31200c9080a3",
        "c0@173": "638e212df3c47a7cc6a7741a9a0a8cb5187194fb35d74600734de8a7651c6866",
        "c0@220": "bf64c582bbaaf0e440de2127b5d98fa98d60df6bc86aa3a8b55d55ea31958f44",
        "c1@81": "75017ba475319bccb8c7b677ff256cf18c6848819fb7d65299b04b0b221523b2",
        "c1@173": "66d3ee2dc7c8519b8c9bce496021aa7d915dd2fa457cbd1d730c305ffb4e8957",
        "c1@220": "4384baac36c358f2e0218a60fc54819bc6bec0c57de93e047c4744677eaa9649",
        "c2@81": "a749c0fe2b458b5d795411a82fd38344377b39690306bde2efb1e7b73cbfb86e",
        "c2@173": "9bd92c6d2d046a6b69335b12ed40e68a563bbf4dd33c7efd50cd7baee455c231",
        "c2@220": "79e1e6b77b09e728cd61bd5131e2a6106e81a12992c2006a415a65ba5aeb0edc",
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
