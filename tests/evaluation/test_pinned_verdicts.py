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

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/2"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "5391ce675e5db7102ccdb76cb5616c6c06d708c709cb7b468b1d6dfd36aaa55a",
        "c0@168": "6c5443104459c72de4e0da50817c492e11686c15d9bd96f0cccab61c6196136b",
        "c0@215": "dbd84f4e60e33410eddfafd8eefffc5c280323029357c69744e543f6e13de169",
        "c1@82": "2cd92baa2b4cefb794ffa01dfdd783ff32792ae6ecfb307d58f91f8b6428f633",
        "c1@168": "331fa22b6df573dce501ef47c1ba46498082c728797e9be1a8cfa875dbacf94c",
        "c1@215": "91e21d89cbd62aca15047d4ec7e0f281c93895d87f93222ad0ad13d2ceea6ca3",
        "c2@82": "5f1e51a292d8feeb34c891c731e48c0b7ce8114255b0c9eceecdec1dbd2ffb55",
        "c2@168": "28bf6a60d8db0ad77e00d556caf8ae5ffc55264cf6b5e8923602bd8ca83551d5",
        "c2@215": "f3d17ad15a8dfabeaf3ddf841bfb61f00dd3b9a074429a9d8f005649db223f8e",
    },
    2: {
        "c0@81": "03b8142330a5027a4a822c885f645cfb9db8c8d041990d1a190eceebc6650797",
        "c0@173": "6eea30ab7d916e85e36429e0bc5a441f1910e5f1ed126e32630383cbac9bbc06",
        "c0@220": "63d23787164056653cbf302591ff6eaaa87550edecfbf7c963cc1d7ecc338264",
        "c1@81": "426a65668062809515a2c2c28921f72e502ea21910915559b8d0181a527c2866",
        "c1@173": "7877a51602fa291094ebd893f56d9a0340c7bdbc86e32eb0c3ef2b18ce6bdedd",
        "c1@220": "58608fd93a9c4ccad0c3f2007264aaabe601deae26ebe8d97b173b48733fe2d7",
        "c2@81": "bfc1a4e763b9f6293fa9661368948a35ed6b64cf529b8b3a591f3bcf092c07ae",
        "c2@173": "4879df0539d82bbd7dd05f3072d36d40ead0087d01731da11f1dedb9d0e7d430",
        "c2@220": "ebe13806f62483ef7b33bb52e343ee10c47361074aa0b46cde79a3baf0893898",
    },
}

CLEAN = {
    "idle/c0": "4ed91440d9afb78841801c0f590b095a42e30b66dab8bfa644e9f456466979cc",
    "idle/c1": "3a2be4833fa7fbb1a4f8fa4f683d5d0d01b7016a9c8c5ef3c53175dc703d6dc2",
    "inference/c0": "fbea36d4ea3d658df20aec690bf072c7f70cbcf6e46f5aaac8f403370c105e88",
    "inference/c1": "980ab2e62eeb7d48091407088ad9c133fed02d0d6b2f3baac8e73d5919c41111",
    "training/c0": "069f577c8eab1ccc0ecbd323bbe85f44f8a70c79397a3eead94f7f625a214a17",
    "training/c1": "983ffa932840a80e0d4a9093d3ae53f4cfbb5c3e5e59b6d4cc6cb6ca200be3aa",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
