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

Re-pinned for ``pausewatch-rules/7`` (a device drawing over 125 % of its model's board power
judged and bounded as an unknown model; the intake's own readings deciding a scope's VIOLATION
beside a smaller meter over every node; calibration's ratios held within ``max_overhead_drift``
of each other and, once it starts afresh, of the lowest it learnt, a bucket beyond that a step,
never learnt): no status changes in the 300 verdicts of the mixed fleet. 21 of them gain an
INFO ``compute.unknown_model`` (the fleet's random "power above the board" lies now also say
the device is not its model); in seed 2, whose lies move fac-a's ratio through its
calibration, 21 verdicts gain ``energy.baseline_step`` WARNINGs and 8 lose one (the steps are
seen in calibration now, and its level is another), 6 lose an ``energy.silent_draw`` WARNING
and 4 gain ``energy.balance_unverifiable`` (the jumps are not learnt, and calibration is not
done in time), all in buckets INCONCLUSIVE or VIOLATION before and after. The honest fleets' verdicts change only in
``rules``.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/7"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "34803f0f2a8f9c996feb09fe30bb86f17e344b9715b0412f8c6c3d506e667cdc",
        "c0@168": "49c8d1fe1dc8806915863c3e492b6164cc8b650f1a5d4abca473dd918603c243",
        "c0@215": "f2a39f767fc9e98ecc332449075e55036d04bc996736df47fc7ee377ef1d81b1",
        "c1@82": "f3757ade999752ff2b1540785825b9149cc24cae8744433171de7c00b080bb47",
        "c1@168": "4264a064c7d85a5c9f9a11599cfa9847e94f8d738bca866e83f7fd6d51da96f3",
        "c1@215": "a836d3e274585a9d5c300e353de6e87c02589455d84539eac07a25d7c473f5c0",
        "c2@82": "491f21da22dd5b5945f25ceda9d6d066bcd5e3a3d79aae4be6b6f1039308c0a2",
        "c2@168": "aa24f78082119de75e509cefe95bfe71b9c13768b997f319ce594e4667535f1d",
        "c2@215": "60bf56febd01e8672a951ab91ea07476ffd913ddcc85fa999684d56f4e7eca99",
    },
    2: {
        "c0@81": "d5404664fda5227aba964adfd837343c91870be7954b3a88e296bb59c21c0866",
        "c0@173": "0a969fb12964cc4874944d8cfc923373c2c82a1630b92d490a165de25ea8c083",
        "c0@220": "9be3b66711033caf74e1388b8d16911f7ebd9d60a6b7b1adaac7a7ae78a71643",
        "c1@81": "69027c5f17d2bf2df16849c642486bac3ab75ed5c0abaed250eb7038d67bbdee",
        "c1@173": "d5d62ebcb25730b9a256f513e89ad4614a2cde648e6fa07222bc1071ff4a65f6",
        "c1@220": "a508f85a8c2dfcfc5e76a7f021e37926a50ce510fb207a7f51406f15574d3988",
        "c2@81": "1d81fd178aced749ad2588dd338b8ed83eb0fd923b53275c310a921e88216671",
        "c2@173": "74a01360da8d0f6bb62aafd1af0e01e75483929ff5799bc9fafdc95cf3cdbe5e",
        "c2@220": "12416219ab72cdeec4695f28950078ad4d9409a4e373470d3b6cf3749b72d616",
    },
}

CLEAN = {
    "idle/c0": "3f717fada35a80e392deca81e9511b7e3ab9222935c7b4b8d24f064df0c9245a",
    "idle/c1": "4ea94244baff778d898afa004ee0405906fb2223484ba0feab8cf069654fe51e",
    "inference/c0": "2b155555d1dff53283df8c1571bd10cd084e60aef1f1024d098241816fdc2bf6",
    "inference/c1": "923d5c6e2ba6c764a3cd1aa9874791b642cacf1094bba53f37f1339e8fc5d5e1",
    "training/c0": "ef83cb19ef292ef580ed46d1ca97fe380b057db64c5d0a4abe84fdcde8bbe5d1",
    "training/c1": "0c90375f7aa4ad9039f00c6e3c1e76ea7ecdfeb4922c0820b26b407e7780d6be",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
