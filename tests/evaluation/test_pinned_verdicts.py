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

Re-pinned for ``pausewatch-rules/10`` (a device holding more memory than any board of its model
carries is not that model, as overdraw is): under ``pausewatch-rules/9`` every digest below was
unchanged (measured before the name changed: the fleets' H100s hold at most 80 GiB of a 96-GiB
entry, the unknown part has no ceiling); only ``rules`` differs. Then, under the same rules
(unreleased), a fall in a complete calibration bucket starting it afresh from the lower level, a
silence's step held to the node's own stray with the others' rise at the ratio seen and silences
of 30 s tested, the baseline never read against a wider σ than calibration learnt from, and the
meters' accuracy summed linearly over facilities for the VIOLATION test: the 300 mixed-fleet
verdicts' statuses and findings are those of the code before them (``/tmp/vsum.py`` in both
trees, diffed: identical); the digests move only by the summed ``energy.unexplained`` findings
(35), which name their σ against independent meters too (``independent_sigma_j``; their
``sigma_j`` the meters' accuracy summed linearly) (``/tmp/vfields.py`` in both trees: no other
field differs). A first version restarted calibration on a
fall in a bucket with a silence filled at the node's mean too, and summed the meters linearly for
the WARNING as well: 22 verdicts of seed 2 changed energy findings (no status); a reviewer's mend
of both restored them.

Re-pinned for ``pausewatch-rules/11`` (stall/compute alternation training only at a steady
compute level, the carry held to ±6 % of the job's level and ended by drains at unsteady
levels): under ``pausewatch-rules/10`` every digest below was unchanged (these fleets' training
is caught by its step rhythm or at a steady level; their servers never drain twice in a
context); only ``rules`` differs. Then, under the same rules (unreleased), the others' change in
a silence explained at the marginal ratio: every digest unchanged.

Re-pinned for ``pausewatch-rules/12`` (where the heard time cannot bound the marginal ratio, the
others' change in a silence read at the band's strict end): under ``pausewatch-rules/11`` one
digest moved (seed 2, c0@81, the log prefix that ends mid-bucket: fac-a's bucket, INCONCLUSIVE
before and after, gains ``energy.silent_draw`` on node n02, silent with the others' load falling
and too few heard periods for a slope; no status or severity changes); the rest differ in
``rules`` only.

Re-pinned for ``pausewatch-rules/13`` (hindsight walks back over a lockstep job whose devices
report no memory): under ``pausewatch-rules/12`` every digest below was unchanged (the fleets'
devices report their memory); only ``rules`` differs. Then, under the same rules (unreleased), a
lone uncertain period drawing over 1.15x the node's proven ones no allowance: every digest
unchanged (no lone period of these fleets draws so). Then the silence test's noise read against
the least-squares line of the meters against the reports, not the heard average ratio: one digest
moved (seed 2, c0@81: fac-a's ``energy.silent_draw`` on its silent node, in two verdicts, keeps
its status and severity, and its message and quantities name a threshold of 3,127 W instead
of 3,131 W;
``/tmp/vsum.py`` and ``/tmp/vfields.py`` in both trees: no other field of the 300 verdicts
differs).

Re-pinned for ``pausewatch-rules/14`` (a light load on devices moving data over NVLink no proof
of requests; the excused partial period held to the draw bound; a power cap read with the
meters' accuracy; the interior's reports read at every alignment within the clock skew): under
``pausewatch-rules/13`` every digest below was unchanged; only ``rules`` differs.

Re-pinned for ``pausewatch-rules/15`` (the lone-period allowance counted in time; a power cap
exceeded only where the mean stays over it read past the bucket's edges; the interior's fixed
load read within the skew of each version's switch): under ``pausewatch-rules/14`` the honest
fleets' digests were unchanged, and the mixed fleet's differ only in commitment 0's power-cap
findings, which now carry the two figures the new test reads (``metered_low_past_edges_w``,
``reported_past_edges_w``); no status, finding or other quantity changed.

Re-pinned for ``pausewatch-rules/16`` (a power cap read through the neighbours' readings and kept
only at every shift; no energy evidence in a bucket under 5 minutes; feeds' classes summed
linearly; a band declared mid-bucket weighted by the reports; the interior read over its meters'
time; a long bucket's lone periods and balance held hour by hour; the silence step's noise read
run to run): under ``pausewatch-rules/15`` every digest but the mixed fleet's seed 1, commitment
1 was unchanged (``/tmp/alldump.py`` in both trees, every verdict of every log prefix). That
commitment's buckets are 3 minutes long, with no interior: its ``energy.unexplained`` findings
go from CRITICAL to WARNING (message "under the evidence threshold of a violation"): nine
verdicts of fac-a and fac-b over the prefixes 82, 168 and 215 go from VIOLATION to INCONCLUSIVE,
and of the nine commitment-level verdicts whose finding changes, six stay VIOLATION by their
``chain.fork`` and three become INCONCLUSIVE; no other finding or quantity changes.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/16"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "6007d0615426dcec4508b7d0a861b6d01ad94985fd5dbd729b3c1c92aa208c18",
        "c0@168": "974f3dc0892b0a1ac2c5d290aebe83006e909050f1991b2dd85a18c68a72d1c1",
        "c0@215": "625ba7d50dab6957f81a6022d8a61d5a0198af89ee299c687de9f41b24ef3c8c",
        "c1@82": "f86cc6ee0a0d90a1045e07a885d9bc0d2b56ece3bf8af3f033e03c2f595f4322",
        "c1@168": "d86c7eb731a6521d0145be6e0293bd86a3716b964897e3127f1e089f0e821454",
        "c1@215": "18ab8f630e4237f24b598504a825d432268de731d785f654854a949c44a717f6",
        "c2@82": "af5e7c75576ec29bf8d0ed27589255248cc7746c558fa381653b4426247f7001",
        "c2@168": "7cecec83b4e2e9cfdd6c43394ba91fd12d0120e635be37f5092fab064c129347",
        "c2@215": "fd4b4cc5124eca2eaaa0045e5cc8f11dbf1fe5e35824acf8011a6e5b06ba9441",
    },
    2: {
        "c0@81": "ac976a0436fcab7a4b4ea447b06537afc378673297a02e795d4fdb39875a4bed",
        "c0@173": "c44d951ce54ada3c25fea3798bff3702d7f185a9aaf2460c16de8b87232a2675",
        "c0@220": "9749d85855eb18c78b601be0cb98ac6a30bda1e905f8516ca3675d26e52794ec",
        "c1@81": "a946964498f052562fbb7d853b639584ae3a227b0807f6811c0f1db8c5b20c26",
        "c1@173": "8edc822dd9243e2ca8d797cabc1390ba2649ebfd8ea2b0a0bfddad10c242fcab",
        "c1@220": "78dab546570fa85e1b1f43740cec5e2f3b7ca7c2719603bebec51a5ea99f2e5a",
        "c2@81": "985017aefda8d8bfdcbd2bd6654072132d426325e8edf38c405ba78b1b5e215d",
        "c2@173": "4fc1b34b298ebefaf7cf475dd8fc487708d616ac26bc6a4cfacb7fe427e4ea16",
        "c2@220": "1955fb341fae816f2749dbf70c1f0203a0b6b574620c70d7b7f23a12bec8b99a",
    },
}

CLEAN = {
    "idle/c0": "8abdeb86da15f2538bffb5c7f00ea007968456ff3f31c6f7a25841141b07f246",
    "idle/c1": "ee1c00bbdb19b3061a15551b679c2bc04756618f120a436676c362244e79d43e",
    "inference/c0": "da7ab6b636a6662ef151abffd736566011ed69ef10c2cf36f6112fe67dd3d8e7",
    "inference/c1": "9e79d20ad18ca97e469e5ab54f8d1b699bdc75ad4b8f2afa408211f0aa19e403",
    "training/c0": "3e2e9e6ee22b1fbf3d850457d9c71b0be06b4598a41e92da4f42f86976ba6d6d",
    "training/c1": "5cd5bf6fb2f90ed7f43ef8d5cf256678a98b942051056a9a45818a610ee1f5b4",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
