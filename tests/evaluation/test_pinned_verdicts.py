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
where a node's and the meter's last minutes are both still to come: no status changes);
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
        "c1@82": "0ce561a256841a0493cf6249bc91af55a854da165e406dc422beb0dbed4fb5fa",
        "c1@168": "4f502afb7635054d6cdfd87333bb2e70591147ecb80b48edb8ef71efb5d9a1a7",
        "c1@215": "8cb6e443420cfe6fcf8341c87d8b648939e99ebdeecb56de32375416ec51f7db",
        "c2@82": "014befddc5de1bced47fc67d0fa1b1ed5a7b3943ad1ce815dad7f8f699d76a07",
        "c2@168": "13625cf807b13b13d3ead1b0765d820f2dadfd5f0037024b5221c70b3ca008f7",
        "c2@215": "fc030dcfd638bb60d4d01b08a24dc1260ebb9b50ae6aaab4b076df47af604a0e",
    },
    2: {
        "c0@81": "b71373d501d98b9c9f96fadeb4c7abd367b4831c2fb672022d6df3ebcfbaa02e",
        "c0@173": "b5660f34baa0ce3059d427118dc19ff9c64d683b0fa9e362f1709daee483ee4d",
        "c0@220": "ec8aaf369222c03da8da5cfb9c2af510833343169eafc92ceb729f7ef8a1a1c1",
        "c1@81": "db809219b9bb31746d622cd58066e9f2b8b0d897a83593cd9338becb738873a5",
        "c1@173": "e406fa1cd9c508f7a709b064c46130a1c2780faa02211866848dd51b1bd78807",
        "c1@220": "f7ed212769ba488fe815bb89aa313dd4d54dbc59dd8b8323915c8d5e9da41255",
        "c2@81": "844379473bc337041ebbc2755c18b5aeb104084a12abbf200a6a1a39026d68d5",
        "c2@173": "4a0de53b98a821ef027c6555a9d3b82bc0e915b73c38fc5a8aa75963b69ed82d",
        "c2@220": "87618af9c24da42ac4609806d8d11b70973b29585859f62f5ed784ad769e3b81",
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
