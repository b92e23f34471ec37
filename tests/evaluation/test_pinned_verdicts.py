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

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/5"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "7241f1ba88cdd00d5a0b9a083a76693f4bec10b20ef3a6d1f97d364d82c9eb06",
        "c0@168": "713100b9af3d35309c8c2d2b06d30cbc7ed1d5c16c0b726492a81c40833c1598",
        "c0@215": "1ae6826288fdb2454421d9203fdbcefe664348247e610729461eb46e4ee16074",
        "c1@82": "1a58c46efbdb33507b7df3c00cdd19d34fe7749fc90aad4e4f1b8bb7e02ba54b",
        "c1@168": "b851b67dc79ac6e953bb11849563c2c6810cf7d8d39bda191dcae497e5fba36c",
        "c1@215": "41edbd18c6b750783759c68218bfc243cec26f39ca53c1851d3ea07fd6005609",
        "c2@82": "64ed2e779cafc536005649538340f29e5bd6d90503ef9d90ea1d39a6a3c6f406",
        "c2@168": "43b76dc74ccd0bab0d2f99c83ef1a2bf4ebd57442dac0305085f1644a9e97ada",
        "c2@215": "9cd552bea2d6e38e983f2cdba314cde1c7eb17cff3482dac5d624781859b7c46",
    },
    2: {
        "c0@81": "653cb6199884910f6a49b05960173bff77083582451ec08fab83df1cc0af24e9",
        "c0@173": "4bb9c42b2981c9a2afac381de5d6ac79abd950814777dab1ab53aa44eadaa96e",
        "c0@220": "fd9b842850da618d2c2baa70d758790d1e910d445a4805c121639b31756fa9f2",
        "c1@81": "75bf6dbf39dc42058072554440368be622eb0c85518ede6df36fc13c67981a96",
        "c1@173": "b5dcb7f1e70acec604250b65345379f379acf050aeeb0e974bd297d1992ca2cb",
        "c1@220": "6001a7d010b760f956a13b75277939143d502a0ab153af45a19d899f37745fa9",
        "c2@81": "4af44b37b5af0b20eff8a49104f9d3f97343c31080760162187c8202b4b7bd39",
        "c2@173": "7372d08df254442d8637d972e900fa6bed2014d16236376227df6933c2935eca",
        "c2@220": "a8fa1440aaec862afe1ffa029431420135ff32663f13b857f6ea08ac6d53e070",
    },
}

CLEAN = {
    "idle/c0": "753c974d622511fd01d9e781cd8a5a7a3ef857c48e119a162e265a58c71af6f4",
    "idle/c1": "9a298a5d0e2972c701a25be23ce5a4e873a0a2bc6e8882e2f18345f9fbb7bf69",
    "inference/c0": "2c944b81cade00ca68bc812e738d57042dda967a5bf9e66c49f99e4fb5844aaa",
    "inference/c1": "8a156ea788fbe90bcc70c44ff1fec3d303081ebc8c7b976f89bb5abc67cbbbe5",
    "training/c0": "a76d65d9d6cf08b2e8faf223646541cfddfbefa5216078135f88414e81cfeea5",
    "training/c1": "4bb614c884fbf5a89ee1b0b10c5d40af8102ef20ef475167dfaf169a0cab9c3f",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
