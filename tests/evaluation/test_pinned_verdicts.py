"""Verdict bytes pinned: an optimisation of the evaluation changes no result.

The digests are SHA-256 over ``Verdict.SerializeToString(deterministic=True)`` of every verdict
of the scenarios in ``tests.evaluation.golden`` (every finding id, late reports, log prefixes,
re-evaluations with ``previous_log_size``), re-pinned when the evidence model
(summed coverage, per-scope balances with noise-derived thresholds, classifier labels with
causal context) changed what verdicts say, and again when a new inventory version stopped
restarting the ratio baseline's calibration (mixed fleet, seed 1: c1@215), and when calibration
learnt short silences filled, never out-of-band buckets, and restarted when unsteady, and when
a node silent for over a tenth of its last hour stopped counting as proven (the mixed fleet's
silent and undeclared nodes gain a ``workload.low_confidence`` finding; no status changes);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "31c8ad9e28b8975c1980de76d95903cdbb015af5f82b7d509b16b56c9288126c",
        "c0@168": "ba50e9e0b13beed7cbada545f9db2bd2b0803508fe42211f39bfec1e2c21b83d",
        "c0@215": "28d1b76a27e14f14aa428b84ba3e0f1f98b39caa18764512a60d287f6efbedb1",
        "c1@82": "c159ea50961b213f7a6ed6e82f2df1a0d4aa85e585f24d8e9a1cb53a9a25c1b8",
        "c1@168": "b067d7a800bfd583c6423925e4fe49477dafc8f1254daad112f60d5dbb135fa2",
        "c1@215": "39b5a8adddaad791092203524d7bb489ecc2e91efec9fea5630f6cd74cfd6525",
        "c2@82": "460282710478eb3fcec89b478af0f665112c0cb6265c9dd71ab7dc1dfdca36da",
        "c2@168": "dc72a88c1a2b778b8e65045afa727cf66422fab27971795ae3eb9f0979e4e049",
        "c2@215": "d81132989ccdb6f4709a67b21d4a5b5abc72b6f37239dcfc4eacca92cd58a1f3",
    },
    2: {
        "c0@81": "49cdf772baff8e6a2dfd088296a17983f6f423ca4860314c19d6ba0d8a39bdda",
        "c0@173": "d1cc7623eea1d8b53d933ad23dee9e57f975ecd3ae4382192fd5a2152495e665",
        "c0@220": "3fef1e32143fee6657f7434ee0b0fbf2689c7ad15fcb8a60101cbe8bce789611",
        "c1@81": "57e3c6c502f1b6d52ce182829aaa73b9e67a45f74829a95d7a20dcd0a24760c3",
        "c1@173": "50e334aee682423541fcd54f85788b948e91dab70eff01f60efd5b48c7ceedb7",
        "c1@220": "4506bcc94554c3630f32e4dcc3f14a719cffe5faa0755862b7f8e68cd23a782a",
        "c2@81": "3107891c0b6e31bdfaba4c2d8b8003326c44ad8520aa92c77038c56a881fc2f9",
        "c2@173": "2db56ae76ec88d08e15f0648cf5edaa714df7b136e6a5a92e63f16b2d7df19e1",
        "c2@220": "a69cdb3c91add89014566aae850990e320ff199cfc1aa40cf5a89d242d89afd6",
    },
}

CLEAN = {
    "idle/c0": "b0680293f69417a5ff3b051a2dc0dd20685a86197896bef83d1f27286bff1b45",
    "idle/c1": "45631c56b81ee61898d972aaf8ee841b0e428f2577e2ce2ec37ca78053068b73",
    "inference/c0": "9a7cf1c8e386bdc8442788a29ddbbd89f668d67d483cb8ae03b85ec46b6dce0c",
    "inference/c1": "e6d1b869702ecdaebb52c91ac6162f161d28f5da93e3140d0b456f8b2c32fd5f",
    "training/c0": "bafbb198df93c1aa5b8ae39ac2cbac376ca2d1dce20778e0f84f56c36464efd1",
    "training/c1": "0cc7dc13d1d5fc13c1155da829a4dd1b2f3a8e393902c8b0d00532db7975478e",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN
