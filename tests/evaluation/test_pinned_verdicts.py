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

Re-pinned for ``pausewatch-rules/2`` (what sparse samples and energy counters prove, proof that
missing hardware drew nothing before ``min_inventory_coverage`` excuses it, meter accuracy bounded
by the commitment): under ``pausewatch-rules/1`` every digest below was unchanged by those rules
(measured before the name changed); only ``rules`` differs. Then again when a node's silence
in its bucket became the time the union of its periods leaves uncovered, not the bucket less
the sum of their lengths (overlapping periods covered a silence twice): in the mixed fleet a
node whose report claims a 3-minute period over its two predecessors (the ``long_period``
tweak) gains "silent for 120 s of the bucket's 600 s" on its existing
``workload.low_confidence`` WARNING; no status or severity changes. And when the first bucket
after calibration began to be tested against what calibration saw instead of being learnt
(seed 2, commitment 1: fac-a's scope, whose ratio the fleet's lies move, now shows
``energy.baseline_step`` WARNINGs, and ``energy.silent_draw`` beside two of them, in buckets
already INCONCLUSIVE; no status changes).

Re-pinned for ``pausewatch-rules/3`` (the training signature needs two events, a job's earlier
stalls among them): no status changes; in the mixed fleet (seeds 1 and 2) the lone
``workload.training`` findings (WARNING, INFO under commitment 1; single training periods of
nodes that switch behaviour at random, never significant) on fac-a-n03 and fac-b-n02 are gone;
the honest training fleet's window counts 6 training periods instead of 9 (its start-up period
is no stall, and its first periods show one stall each until the second has resumed), its mean
score 0.9 for 0.9675, and under commitment 1 (training allowed) its first 3-minute bucket, its
labels now all later, no longer carries the INFO ``workload.training`` findings.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/3"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "e5a0d33fc5614d09ee7af37b0645e34141a583944e4f503d1e5a1c17800def7e",
        "c0@168": "cd579f80bc3dbc18113734eab06240f710d4e756e7b572d8cdac6caf04be97ed",
        "c0@215": "4e357710a65cb07e163e8ba4f3b3bf2ae3d00ad733ccdf11b7eeb460f5df96c6",
        "c1@82": "9037a4eb1327d81eeee844b0b4a95f695516a97b3cc7f5a08704bd5c13d51f19",
        "c1@168": "022bedd8b1476dfecbbbdf70cf9bf73b663cf372da9af20f7809afc9800bed0f",
        "c1@215": "79a36cb78e71e883ec7408b572068efd18b0cb831bf0ed7da4b5f00d8df785f4",
        "c2@82": "261f41f09cbfb48fe219bec0fcf88f9af7ff7d569b643f58bba32f29f951f775",
        "c2@168": "1f75cdbf607fc1598b2aa2e7b379478321833b1c2bddef56c073bc59e4482c36",
        "c2@215": "3032b99b4a36bf1919e3248816246ae352919c6e6ac08e46ed66a6974f6b114e",
    },
    2: {
        "c0@81": "970ef3e775415df8fbcde18d55959916f479c97fcf3f3dead2debf1f1ac14eaa",
        "c0@173": "ca5347bb649bc7c06a8021b67ac2fa00bd8926dbffc732e3e528bb2c3e7d5f8e",
        "c0@220": "3b322ef2884c338cb6096a779338133bc7e45fc094c702015b1da0034236a893",
        "c1@81": "28e2749741a20ddc3b0ccc4d428cbf657808e8f5292e23b741d745f7346060c1",
        "c1@173": "38e29d5f206de2f66bde80da29e7514bdf6edc4aa0423308b0713e54e992ab54",
        "c1@220": "7cdf3181079b50b6cb3b0aa13238685a9b811b2b3cc27e7de0232c9678f56fb7",
        "c2@81": "dfe3faaf753698dd4e8f706c61924252eb70ebe39e6cd390404aa4a356dd9c65",
        "c2@173": "62513a31aadcec8a4fad9efe5672a686e84a5dcc5bb0ac0f56a790456fa021b8",
        "c2@220": "75e9bfb25280a1bd2ee687447e8ba13fe3a5c6af11d7c2ce75776095cb64d554",
    },
}

CLEAN = {
    "idle/c0": "8783cba051183255eb485bf6a38d7d399b910b29aaa9f66ef48e2bdc093ce906",
    "idle/c1": "b2255e08f9cf4d11e5f55d5c4fd3ef0ecc021e63917c66a0e7a8933e0c14a50f",
    "inference/c0": "d4af80beafbe1faaae4a13e462caff7a1d7c17506749c8e5cd64077d47e6ecaa",
    "inference/c1": "57e1b207bae583d7e21bd62c6bdd2bf95e33cb87d1b07f2ee7722edb3421dd06",
    "training/c0": "a50ad1e748cd1a48e14309e1bbb5d938f335df243e79ff72f4537b03ca58e557",
    "training/c1": "a07cde100ed9848478fea46b796e1191a06fd64d95075a9cc2b0103d7891ef11",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
