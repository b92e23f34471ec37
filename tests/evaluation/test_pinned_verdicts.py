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
changes);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "b6e6d78c6ccbdc563d3bf63c4f5bc4c7657465b5c6b37c0c55e8869fde085c2a",
        "c0@168": "167aba4953bfa5680241e5a95a9c8da3a8d4fd38763d96fe9d73f909ab060294",
        "c0@215": "0d27df5ef44cdeca51c0672b1158530ee123a48e95296ed54b62ebec87224009",
        "c1@82": "8162ec6a777f8e019c4e2c49190313601c5914e20b6091d08fb046b68dfcac82",
        "c1@168": "8fdd0812efd6e4052458218c596878d564b2944f1567a7feeba83d62a2915799",
        "c1@215": "e57adcb392c92b2d1e03cb19d39e15d302be587f62e8bdb9cfa4161d10801bf5",
        "c2@82": "c5f9bd80296058aa7e30024e8ee8416941b9b738f835ecc95b67f09c43e24368",
        "c2@168": "015e7f537533e8ac5f7ec26d922c7d2149a7a45403aab95803ab536de19403a4",
        "c2@215": "b9e55b2086dbffdeb8dc76ad8432420d26f448d26b0f91a9532c4eded2660c5a",
    },
    2: {
        "c0@81": "e5a7deb15526f697a68dee0f5c63a0fae95d89a1437163bbb952a6fd63b3770e",
        "c0@173": "9971a4fe6076bb81fdfebe7781d161a86efd589b9dcb9db0f672611e52cebb24",
        "c0@220": "ec8aaf369222c03da8da5cfb9c2af510833343169eafc92ceb729f7ef8a1a1c1",
        "c1@81": "444987bb9bf012fae45a94a585458b99eb393d7e2086f15be0c2516b54417d05",
        "c1@173": "bc363526f95584d3bfafa41795172f8687708f61dba1980c5c582a01152f12d2",
        "c1@220": "419f22491d75f1ebba9d8847872532c5ceeb0493986e73296ff87be097c7b405",
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
