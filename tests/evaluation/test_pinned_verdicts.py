"""Verdict bytes pinned before the evaluation was optimised: the fast path changes no result.

The digests are SHA-256 over ``Verdict.SerializeToString(deterministic=True)`` of every verdict
of the scenarios in ``tests.evaluation.golden`` (every finding id, late reports, log prefixes,
re-evaluations with ``previous_log_size``), computed with the evaluation as it stood at commit
f090984. The auditor compares stored verdicts with recomputed ones byte for byte: any change
here is a change of results and needs a new commitment version, not a new digest.
"""

from __future__ import annotations

from tests.evaluation.golden import clean_digests, verdict_digests

MIXED = {
    1: {
        "c0@82": "a59a167f071078e4f97fb237ca30a6c64c7c75c10931c05653231ae28c6cc6fb",
        "c0@168": "a496cfafc44613af40d96e33d7e0a6590d3624703a546a30c78c4af885e1de54",
        "c0@215": "5873c3f1cf443faff457a886a9c5dfd8b2433e0d0820cb0e20beb953dcab9151",
        "c1@82": "caf5a9af34f30a3ac821c00c9b0dcacb0d8954df09ab55cd11517c0f7b0d8a9b",
        "c1@168": "da996612922193e76bfb5b20481cbca7a106d0adf922070352a6736933eaa597",
        "c1@215": "c9ba6e2ac3cb6f3f8e01682ecd47707312d1e5169971a98852079169db1f593b",
        "c2@82": "9b3ce223b34749e48153a40d160a93ccf87be32003f735980bf12d0e9712ce56",
        "c2@168": "5f9236337d7b24bb306f3e8f270360033d4056da5e8ffc5a7a82a048185728ca",
        "c2@215": "bd394ded938d4186b1d57cffdfca0a0cfdccff5ce9066c97d7908432c9081b79",
    },
    2: {
        "c0@81": "fc9b9edf5d5ecb34987fe97591f7122e9aa4d7ba4ceb2dd541c05498199bb978",
        "c0@173": "175b7bb7678f6c9ff0938f7b40f7bb787372075c5155e2f1ad29739f15c3dad6",
        "c0@220": "8611d3037b437a0a9605f3a204df0213cfaa26b384c1a8665e218b07d5446501",
        "c1@81": "a4e641006e57aa3f2a297919d4b6527b955bcd3bd14538a200a76b85272eace8",
        "c1@173": "fe9641b7490f6b523798772f62d7832d35f3307a0931bec0cb8d60530a334c10",
        "c1@220": "6dd5d76dcea8a4792c9a01fa07af34f220cd450a9d2bbfec32120c11a22f750c",
        "c2@81": "1a7c9571355a27b68fd9b76ac6eb257704426bca92733a7fef81a233e4c8160f",
        "c2@173": "0b69a87359bbd995d65246a5b31de8b0d8cd88a973e904cbee6b92486f246628",
        "c2@220": "eee824ca306ecd8feb4e7e9514d8fe4863fbccebe84e301bff684c121a638819",
    },
}

CLEAN = {
    "idle/c0": "6e105a1cd05bb47cad627d75482d34aa3a8df15917237316a7f7cb9cd484bef1",
    "idle/c1": "ae2c76be976bed5d161dba06ecb6866ce8cfc7dd6747dd51003524804d983dd2",
    "inference/c0": "939003a1eeca649e3a63be1862317c7abe049e51643843f48c92f00fd8944b46",
    "inference/c1": "40ca36fde65b815ae39516081742fe28f3b67d6cbc941fefc8b702f1672f8e72",
    "training/c0": "cc45c82e6be93786123b226ca72dcaba3351f0ee8d1d7020931a1ddd9cb66fea",
    "training/c1": "b44259e45fc6cfee9771f1c84f63477a81643709481c659b513818684f44a1fb",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN
