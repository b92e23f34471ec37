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

Re-pinned for ``pausewatch-rules/8`` (the energy summed over a commitment's facilities held to
the interior test each facility's balance is, each facility adding its interior excess, never its
slack; a lockstep job's earlier stalls joined only through periods within 8 % of its level):
none of the 300 mixed-fleet verdicts changes but for ``rules`` (``/tmp/vsum.py`` in both trees,
diffed). A first version added each facility's interior balance as it was, slack and all: in
seed 1 under commitment 0 the commitment's summed CRITICAL ``energy.unexplained`` at log size
168 became a WARNING (a reviewer found an honest third facility cancelling two others'
excess); the clamp restored it. The honest fleets' verdicts change only in ``rules``.

Re-pinned for ``pausewatch-rules/9`` (a part the peak table lacks a WARNING, never COMPLIANT; a
device reported as another part than declared an ``inventory.model_mismatch`` WARNING, judged by
the classifier as declared; the table's new parts, the unknown part's figures with them: 28 PF
densest, 1,400 W; unexplained energy turned into FLOP at the scope's most FLOP per joule): no
status changes in the 300 mixed-fleet verdicts (``/tmp/vsum.py`` in both trees, diffed). 57 gain
``inventory.model_mismatch`` (the fleet's "Mystery Accelerator 9000" lie on a declared H100, which
no finding named before), 21 turn their INFO ``compute.unknown_model`` into a WARNING, and 21
commitment-level verdicts gain it with them (they carry each facility's WARNINGs); the unknown
devices' upper and best FLOP change with the figures. The honest fleets' verdicts change only in
``rules``. Two later changes under the same rules moved no digest: tensor work on a part without
tensor units a contradiction of its name (the fleets are H100s), and a device without a board
judged against its reported limit (the overdrawn devices report 700 W: their labels hold). A
reviewer's mend re-pinned the mixed fleet once more, with no status or finding change
(``/tmp/vsum.py`` identical): the mismatch's message now says the device is classified as
declared and bounded as either part. With the old message all 18 digests are the ones pinned
before it: the periods before a bucket judged as declared too, and a device whose two names are
two parts bounded as either, moved no verdict of these fleets. ``pausewatch-rules/9`` is
what this file pins: the commits between its first pinning and this one never left the
session that made them.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/9"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "dc2c3bb678803a5260e4b8958051eb3b7f4f7d953e1c26356718670c41925ce2",
        "c0@168": "b5e09aba6884407d8a7075e7ec8d00519e2bf98e8d2bbfbd2bee343d188c869d",
        "c0@215": "3d05fff25878b0005dec47b94420ab68ad0fb254a756a633ae58b0f9055515ca",
        "c1@82": "0ab61cab7a81103d42e8f91639f99d06644e1cbe271b6411bab40d146f96db04",
        "c1@168": "036741ce3c9c6ad1104e2aff546c4e63451ad45d008132bc5f954b3b78096a9c",
        "c1@215": "40ec47e5e9a72138899155790284871953b9a2fc2c31e5805e82253d33130752",
        "c2@82": "261e35862dcbdcfc915e227f2b9714f8680aed2dd2e625e078f1601fefff2691",
        "c2@168": "434c59e5cc368aa8525d36bd6d8c214b158fc94da098ca759394a5aa7fd5fe4c",
        "c2@215": "ed5055256dfce8d29f2f12b0ab54581ca3321c7ff6b197d4930c9a384f871a22",
    },
    2: {
        "c0@81": "3c6de19a328b5f4ef2c9627cb7b2f7e24d7aa0712c4f52897d1bfff804f4bc9c",
        "c0@173": "9793875724d4d13d79a8e2712a54b756d68c57cb88fbb32e1dc066a98263588a",
        "c0@220": "72b926028263c67e14d95df5ee9664bc2818f45d8832f9263a6f666179e5b1fc",
        "c1@81": "4aed6b6714b39c2ee29680c0c7c1fb2799df00b760c630e8026c5d0fbf11208f",
        "c1@173": "d3e3595196bebf5ba54a4b8d638d18019846aad617e392dbb3abd6783597db17",
        "c1@220": "75719dcd83688b57b2a61108c0688a21f153d7004679f16716d2ca78bc436c95",
        "c2@81": "3d9d3618edf81338ca84d7cbe1104f6a91d169c3318b91ed7147596cd818f663",
        "c2@173": "08204c1a34b2f2be88b464134164ee6b890c1e3316920788c4450eee92fe2279",
        "c2@220": "f432c71a2d84fd20969d706949e853507a81a8aa3a66c3238a465a230e9c308d",
    },
}

CLEAN = {
    "idle/c0": "9138fdbbe8d65361d559c1570fec3246d9efadb69ae190ed8f15fe2edc9d03f9",
    "idle/c1": "5e15b6acdd6525e7d457879109b733c120df5a1ad2480d2db972ad2730c18e53",
    "inference/c0": "13d907cb023f4eb5e159e502786ea1c3d1c99d952e159db654b08c4a0648ba74",
    "inference/c1": "d115a1bac6b1227c00d16d43bd2c3b4a8922f0138d4f49667c88b9699dadd6ef",
    "training/c0": "7be010deac359f5bbf7c380c24c91e657f76e5189e19584478bd10b574ca45dd",
    "training/c1": "bd93c77cd80f67d3b7bb8e481a249175e3454897153e72e6f6f1546780b89d2d",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
