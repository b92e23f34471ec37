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

Re-pinned for ``pausewatch-rules/4`` (each usage report read against the inventory version
logged last before it, not the latest: a declaration logged late vouches for no earlier report;
each bucket against the version logged before its newest report):
under ``pausewatch-rules/3`` every digest below was unchanged by the change (measured before the
name changed; these fleets log one inventory version); only ``rules`` differs.

Re-pinned for ``pausewatch-rules/5`` (each bucket's fixed load, band, meters and declared hardware
from the version logged before the log's clock closed it, not before its newest report, which
the lab chooses; its fixed load, band and meter accuracy each version's for the time it was in
force; a node or a meter dropped in a bucket counted there as declared before): under ``pausewatch-rules/4`` every digest below was unchanged by the change (measured
before the name changed; these fleets log one inventory version); only ``rules`` differs. And
then when the CUSUM began to sum each bucket's z clipped to ±5σ (one outlying bucket no longer
remembered for hours): seed 2, commitment 1, from log prefix 173 on, fac-a's bucket at 12 min
(VIOLATION before and after) and the commitment's loses its ``energy.baseline_step`` and
``energy.silent_draw`` WARNINGs; no status changes. And then when the reading that decides
COMPLIANT began to count each meter's unread time (at most ``max_gap``) at the highest power it
read in the bucket: in the mixed fleet, whose meters go silent at random, 87 of the 300 verdicts
of ``tests/evaluation/golden`` change their WARNINGs — ``energy.unexplained`` "nodes report more
energy than the meters measured" (a meter with unread minutes is no longer evidence of
over-reporting) goes, ``energy.silent_draw`` and ``energy.unexplained`` WARNINGs come where the
unread minutes could have held a load — and no status changes (63 INCONCLUSIVE, 24 VIOLATION
before and after); the honest fleets' digests are unchanged.

Re-pinned for ``pausewatch-rules/6`` (each meter reading counted under what its key was declared
to measure when it read, not what the bucket's last version says): under ``pausewatch-rules/5``
every digest below was unchanged by the change (measured before the name changed; these fleets
log one inventory version); only ``rules`` differs. Then, when the training test's window
became at least ten minutes whatever the bucket, a light load stopped proving requests where
devices that may exchange data follow each other in two periods of a context, a job's devices
computing flat at its level began to carry it, and the commitment-level ``workload.training``
finding began to name its window's length: in the honest training fleet under commitment 1
(3-minute buckets, training allowed) that INFO finding counts the periods of a 10-minute window
("15 training periods among 27 node-periods ... in one 10-minute window (evidence from 4)"
where it read "9 among 9 ... in one bucket-long window"); no status or severity changes, and
the mixed fleet's digests are unchanged. And then when a VIOLATION's energy excess had to
stand in the bucket's interior too, ``EDGE_SKEW_S`` (120 s) from each edge, so that a clock off
by what the verifier tolerates cannot make one: in the mixed fleet (seed 1) under commitment 2
(5-minute buckets, whose interior is their middle minute) fac-a's buckets at 10 and 15 minutes,
and the commitment's at 15, go from VIOLATION to INCONCLUSIVE — their excess (the fleet's
random lies) stands only in minutes at the edges; the CRITICAL ``energy.unexplained`` becomes
the WARNING. No other status changes.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/6"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "e2c9481c5e59773724e24cff70af69b450903afb0b19b916042a6c91f0005d4d",
        "c0@168": "535cd98a15671a2c620a9ac73eb4d238c8a48ad5d7fc8a3513b6529a36f01204",
        "c0@215": "daa14d27a6f1c18a38142f44698dd62a95cf396307e0b81d1bf562aea4e15d9f",
        "c1@82": "d7fd8cc5239c00931b4ac882a7889ae661aeb876848e030611dd2dc4c0caf89b",
        "c1@168": "2daf4c97b8db84643ad376229dd43d6629fdf04d14598d9e9cc3faea9a13707a",
        "c1@215": "b0f444b2aae8aae24e45d5615e9e07bfc24137e09b54ee2af7bc2a75f0c71ad2",
        "c2@82": "f4b013ce8c32517fd5d05e70a945c2ded2de674dd3015fe12cbf8f7f149abf6e",
        "c2@168": "fdc1e579542c6973c7f50007f820059f98925f08216661bc76c3bd129627cf74",
        "c2@215": "6463c48754469526b3339385712bfa075c3a1a95f57579f0a41ca7559c0df59f",
    },
    2: {
        "c0@81": "88ffcd4c8ab60d9a07fcbad98ab952befaadf3bd0f4a36b2266a9554886a5a19",
        "c0@173": "25a283982bbaef2e6ad5e6d189c38f05f505e6167c14ba971335305214c94c10",
        "c0@220": "33d7fe8612e27dc20240ab512e5d257ad0c0155be7f218c70be9e0b7aeed5312",
        "c1@81": "a89c8cd91af1eadcee000d43265f8a4b934db2beda4d95eff63599e88bb76932",
        "c1@173": "7275a444cb4cab4ad66937c82da2e4c84c56833be0690cdeef774d6de617bff8",
        "c1@220": "b6f3e98963f017dadf2b61a8d468c8131eb036c00bcc45de5b83b3574de2e18c",
        "c2@81": "a9ce1914513bf4ac643c76bd1c031878286130c5baf80a4b9f574506527cb4ca",
        "c2@173": "a1c4ba0114db3648277cedc96dfdb28b26e5c3c61e0c481fc031fc6d95663bfd",
        "c2@220": "77347fe7eecdbeff5ef2e360f17efd530ab5a518c58b48320a8ca4eb6b010556",
    },
}

CLEAN = {
    "idle/c0": "f6d326cd1488306a6deb3e112d3e503636c6600f5045b8391f5e28c949e59cc3",
    "idle/c1": "c2c08a6d615fad083ce1b34fa4d0f4acbc39e9fde45372541c0c6b1d75cf6633",
    "inference/c0": "ff0064dc89de9c4697766b5ed96472480eb0967b9495e5b40c2ae51539127e4e",
    "inference/c1": "42f589798888ef1fc779d607435d436b9af14aa1830f87c65ce298e2dc3662a2",
    "training/c0": "a9a56d8773de61c2b2b88876e9480d304539746db5f03fe59f6545c26dfda5d7",
    "training/c1": "cac0211b4fc01c7bdb9689953605d65f753117d1b0926704aefae01e1ba07ee4",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
