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
MiB, then 40 GiB) move from ``inference_s`` to ``ambiguous_s``; no status or severity changes), and
when verdicts began to name the evaluation rules that made them (``rules``, every digest; nothing
else changes);
earlier pins were taken at commit f090984. The auditor compares stored verdicts with recomputed
ones field by field: any change here is a change of results.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/1"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "0af26cfcf9561b8489612c68141d212ff14a27cd5948d7513fc541c4f0a04bbe",
        "c0@168": "b9a25c1107f1251b3225ffe6d5a061b2fa66a3f815ec1da9e6a5ce5ede880fb4",
        "c0@215": "5bda14a0c0ec9b756ed6d2d5b7b2385eaf38ea381ce63b8da39e9729cf4305fb",
        "c1@82": "1111ad57427b60b2bf17059134c89560b454dfd6f51c2deb148975447ac0c578",
        "c1@168": "6be90bdffec5ca76dcded813dea9bfe1e32d14baa7329d6ba0cb56619c8f6468",
        "c1@215": "8be9bfb1409a68036636a944912b8e4119efaa801ffd49bf9769c98d9b9e163a",
        "c2@82": "85cfb0e62a7bb83c4a0f2335ef67e40b33edbf6f7a0c8cf003a6bdbecfa05fc2",
        "c2@168": "e9585706f2d31c8ec7872bd04fd2d1422c7b1cf8f13f88bb14bbb8d8fbbf5e6b",
        "c2@215": "acf7d0f4ed940542fe999cf14cf7694872edb9e7f90ac34f04a57e76958fa91a",
    },
    2: {
        "c0@81": "db831f427875c3106dbc1174070612c719bda1dd42c61fb38805786fd3bc5fb5",
        "c0@173": "2c6a658ff4574c719f9ded870b38ebc0db51484da4281bca197e7acd757ec260",
        "c0@220": "ba258e75d5a080ca65df5e11ee10ef5df28bdcda8410485094dad04c35254656",
        "c1@81": "936e3075e4b21d284e31c055b3585e20ca7ee294c7ab0fb175531d56d502f568",
        "c1@173": "766b49d116ffcbf0c21188d8d1f6afb2231c97f8a2803fb3e5c40d5222d5155d",
        "c1@220": "224c0d12f79f8d77ba5353238a3e4dfa22dc19efa778e408716ba9af7c0c6eb5",
        "c2@81": "622a95550eaf626c3764e0ec162ba444b9ebc229c2ff79d8c0a6047420b8c5d9",
        "c2@173": "5fcccc95731c36a444805011b61a546df1f5810323a30b3f535e1854ea861c12",
        "c2@220": "0a4e587828ae783756875d65e96b1f73bdb4fe2fbddc17d1dd4348c10b864cc4",
    },
}

CLEAN = {
    "idle/c0": "cbf7d285ed9dd9e4100d229a0d2cb4ab64c74b2a86a50f7aacf698e0d813ca81",
    "idle/c1": "d731d84f32b29cad87a283be1f4d2f1b766bbda3f1ece66b44a101e1f342f55b",
    "inference/c0": "80bcb0d25f70a725873c5a2b841cea12518b2fa387fba0f39615a4189aa3b57a",
    "inference/c1": "bbb66b39b98da5d2ebf08dd0c49afb6dc69c0168ac1b0eaa28a5afde6f60cf4f",
    "training/c0": "8b55fe826e6430b1256fd064763fbb53c0e9a6415593b6ea639b8960151be65a",
    "training/c1": "0593fb3aea0565a2e7405c9d4aa000c32fdfb656c14370033271ec0b628f9d18",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
