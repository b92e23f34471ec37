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
        "c0@82": "d8f9a00d46fbedab489da8e8c211bdf5d1bae316cdf019700331cf4a8e14130b",
        "c0@168": "c8a12a48fc0017032ea4a927d75bdac0ec87f68d8ecb37ec545a5eefac433625",
        "c0@215": "7ce1e2a7165d6d11d3034dd0cb0a902764bdee6b8ccbc130108644d5c6c18b36",
        "c1@82": "f484bf2c7337d3beec6aa1a9a1460ed751fbb55d6c99005a9258fc85610a0627",
        "c1@168": "f7d0f65099a4a6dd639a57d7c3c9454613ec77769faf6ad5e8355fe77acb3d07",
        "c1@215": "5589e24da01958966faa25916d1cc441596837b68e0c25b484363c761fbfcceb",
        "c2@82": "4da8752a37a2c0850a58010e4041c883cf777aeae0d6bb5cbd80e6ecbe910766",
        "c2@168": "7be57f48e67363614438d68974c8b6363dc69e50b525509351eb67b637f0d16c",
        "c2@215": "d5baca11c75a934bce999bf3889c01440e927df59aeee9b6fc1cec7f29b56db8",
    },
    2: {
        "c0@81": "b0d644cd5ad4afb420b8576ff819ce60ad4f8cd2534ec609ec872f04f5543f81",
        "c0@173": "0962a8a6e7aeb7ca0267da886408bb090fb95c80a49c10a7a28c56b69a960487",
        "c0@220": "a6d0ac6609594fcca6b12f2a76c3f8779b7b5b2188251dfbb10edfe95e20e6a4",
        "c1@81": "0a0289a26e7cb567462d3d6ccd98e8ea94c4daab71697fec55b9a4033b698c8c",
        "c1@173": "6d74ce2339d934d502b66870351bc856fce0e8d783bdbdd56d94aebcc65a5e37",
        "c1@220": "80f1dbaf1606b4148ad5644a49c6cbe1998dea1d58c526b58a83cea774516bd8",
        "c2@81": "816dc844f03d077184669f5839d64f86c6fb0642e949e9e9d2c014c06f2cdfe2",
        "c2@173": "d8c475bdbdc29650d082ee28ed21230418859d04d022ff9c20d3e926c045c7f4",
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
