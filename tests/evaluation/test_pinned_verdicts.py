"""Verdict bytes pinned: an optimisation of the evaluation changes no result.

The digests are SHA-256 over ``Verdict.SerializeToString(deterministic=True)`` of every verdict
of the scenarios in ``tests.evaluation.golden`` (every finding id, late reports, log prefixes,
re-evaluations with ``previous_log_size``), re-pinned when the evidence model
(summed coverage, per-scope balances with noise-derived thresholds, classifier labels with
causal context) changed what verdicts say; earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "2f8b7192eb12e3ce10734ae762babf22d9d3651dea611e859bbe1836fb1983d2",
        "c0@168": "687895bb1a7be03aaab851e7a6b3dc6d5f8ae6f2faa69b769752583ae4f85b45",
        "c0@215": "7ce1e2a7165d6d11d3034dd0cb0a902764bdee6b8ccbc130108644d5c6c18b36",
        "c1@82": "07b1ef2fce745ac19dac0e5da30f860e2cb469ce64299ca8a6f97030de41eb8b",
        "c1@168": "f9b0908011955382ef778038232ee43352799f8988b69b35d345ca24f5776400",
        "c1@215": "9d19201ffe8a7945dc245cdb413788976893c08eee63373eb6e22b58f7f96949",
        "c2@82": "b2c4695cb4afab8d6077e1e94c3d842581d712adaa50273d56d979ff668fdf2f",
        "c2@168": "f1c1a9d1372ea605fdf262960ad3d2e086895d423005b7b5421db44b6f2e5a69",
        "c2@215": "d5baca11c75a934bce999bf3889c01440e927df59aeee9b6fc1cec7f29b56db8",
    },
    2: {
        "c0@81": "0e14929229d785b309e7f17290e031aa33efce14797fef7dafcb0585c55a9ecc",
        "c0@173": "00247a856498f355477a6ed16f8358d49a3b6ed507ae8337755200549321c468",
        "c0@220": "a6d0ac6609594fcca6b12f2a76c3f8779b7b5b2188251dfbb10edfe95e20e6a4",
        "c1@81": "3645bd25baea49ba5ab12c4911a11fd2edba1b0f403cf135416e60935504f515",
        "c1@173": "bfb0f31446cbd22b51c12faae36bccc71f668a7b8df5178159e2af6c942e1a7f",
        "c1@220": "80f1dbaf1606b4148ad5644a49c6cbe1998dea1d58c526b58a83cea774516bd8",
        "c2@81": "a7920083f7c6257695681c52d85904dd9f7b9ba8c9023aaf88706e88bfd2b4ab",
        "c2@173": "ed4e7b7f71102f568d3081f912102391b122ead85836876138b410796ab64830",
        "c2@220": "b30077b136c71a56d2e71951d55fcff8cd963dc5a94ff07dc97e93c1896930fe",
    },
}

CLEAN = {
    "idle/c0": "b0680293f69417a5ff3b051a2dc0dd20685a86197896bef83d1f27286bff1b45",
    "idle/c1": "45631c56b81ee61898d972aaf8ee841b0e428f2577e2ce2ec37ca78053068b73",
    "inference/c0": "9a7cf1c8e386bdc8442788a29ddbbd89f668d67d483cb8ae03b85ec46b6dce0c",
    "inference/c1": "e6d1b869702ecdaebb52c91ac6162f161d28f5da93e3140d0b456f8b2c32fd5f",
    "training/c0": "e7d013bacc0976b43055330113f81076d53d5736147ca873a6c8d2952dd75f6b",
    "training/c1": "54739cafa67dd17f87c510b23ae72bbfa4d894551972d3640c4cf76585d98657",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN
