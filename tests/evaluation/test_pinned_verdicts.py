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

Re-pinned for ``pausewatch-rules/17`` (a stretch between two of a meter's reports that neither
covers bridged by the meter's energy register): the golden fleets' meter reports carry no
register, and under ``pausewatch-rules/16`` every digest was unchanged (measured with ``RULES`` set to the
old name); only ``rules`` differs.

Re-pinned for ``pausewatch-rules/18`` (the ratio baseline read like with like over the time the
lowest measurement read; a long bucket's hours over the registers' bridges): the golden mixed
fleet's meters leave time unread with no register, so its baselines read other ratios and learn
only from buckets read whole. Every verdict of every log prefix (``/tmp/alldump.py`` in both
trees) keeps its status; 25 verdicts lose ``energy.baseline_step`` and 2 gain
``energy.balance_unverifiable`` (the baseline not yet calibrated), all in buckets already
VIOLATION or INCONCLUSIVE; the clean fleets' digests differ only in ``rules``.

Re-pinned for ``pausewatch-rules/19`` (over 10 s of a bucket that a top scope's meters left
unread between two reports, with no energy register to count it, ``energy.balance_unverifiable``):
the golden mixed fleet's meters keep no register and go silent at random, so 124 of its 456
verdicts (``/tmp/alldump.py`` in both trees, every verdict of every log prefix) gain that
finding, each in a bucket already INCONCLUSIVE or VIOLATION: no status changes; the clean fleets'
digests differ only in ``rules``.

Re-pinned for ``pausewatch-rules/20`` (the interior's reports read each node's at its own
alignment within the skew): under ``pausewatch-rules/19`` every digest was unchanged (measured
with ``RULES`` set to the old name); only ``rules`` differs.

Re-pinned for ``pausewatch-rules/21`` (the ratio baseline fills a node's silence only for what its
reports' own lengths leave of its time, and one the meters read lower at what they show; an
instant a node's reports claim twice counted once in the tests that read power in time): the
first two unchanged every digest under ``pausewatch-rules/20`` (measured with ``RULES`` set to the
old name); the third adds ``energy.silent_draw`` WARNINGs on two silent nodes in seed 2's
commitment-0 verdicts at log prefixes 173 and 220, where a node's report claims a 3-minute period
over its two predecessors (the ``long_period`` tweak) and is now read once at the lower rate
there, in buckets already INCONCLUSIVE: no status changes (``/tmp/alldump.py`` in both trees,
every verdict's status and findings); the fourth (a light load never near idle is no proof of
requests unless it changes from period to period after busy periods) changed no digest.

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/21"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "7b5d6425691bf2c616c538a93a40d26ebe78d182d6a009908b43c0afe9e7f6dc",
        "c0@168": "f0e1e9b5c7249b467acf3d2c0db3b0f17dcf664a17f6b3702f82063729670f59",
        "c0@215": "2ca9afeb4a599cc6bb22affffc2fbc589580abb5fea492487ebab1b9dfdcac42",
        "c1@82": "2cb727329be21edf04344e5a3f4708f7c05e0a40b5f4fdef7a7543e9f3bb47ac",
        "c1@168": "61e7e9fba332fc867a746f395c2559e3d3e3456400322f12092befb4d33755e3",
        "c1@215": "a88f5054601561b99326070c1f27541b4a78dbb37aaf630813373f4e072b6e3e",
        "c2@82": "7689063c01fed88d620da621440be19d539f07560b5b5b0139668dd4b13fa21f",
        "c2@168": "ac342ed9868a6e95a42c586e056521d64839d2da498b507d86f13510941acd1a",
        "c2@215": "6f3c66d9b2cb5f764d37c38f90d9d2e934151d1dcabe192f08a44b8795aec62e",
    },
    2: {
        "c0@81": "0b0ccc64ebc3b49f6aa5aa543be772e2590b07b8532427cfb23c0943e43d7cd7",
        "c0@173": "ac313ae4d16ab95659c51771622afe9c3063da3f946ebf92ceb502b56f984084",
        "c0@220": "458bad8e02e25776cd58760ab87ee9dda164df31a721c49f3b3453d20c8247e0",
        "c1@81": "d437659f8e7651d463318c6d252e969e282a8772c6abbf35ef54dd212d0c0b5e",
        "c1@173": "45222b4014f7b41195c2b724b5884b0d91127c82ae56b3e929d5ebb82024a266",
        "c1@220": "983ce8986ce8f3b72ae09ab45144097b488fb7753d2e6816c513c72899f46d14",
        "c2@81": "257167176e3f209b5b051079ad63f1590851e0e8f1cce3514b4bf0381226d136",
        "c2@173": "f70cf907d5787d360d73504c811d2ab896f4eba9fa48776fc42e22056ed7f436",
        "c2@220": "4b74b1b1b2cb55c1660c705c8d35fbee16e3d0594a43288cb8408e702116eb0a",
    },
}

CLEAN = {
    "idle/c0": "c53e534c5c30913508df67855318b6285f1fe5afd98b4c0a5ad4050902322d36",
    "idle/c1": "e2aef38a5d5453acdefe2fac429c67f40fcd0d3aaa0df8292e5320a485a8f543",
    "inference/c0": "c7609dffbeb31a5b90f7c26e5a2036bc2a4ffcf1374020914a0849bceff1634a",
    "inference/c1": "128638a3987d497b863c51056c5ef0eef046d1259acc272936f874b5974d2f12",
    "training/c0": "1d36950d2aa30b2549ec40b58c530add5e580a2d559bc35c459fc80b8bc06458",
    "training/c1": "d9049713215c362d9e37914553fdba5e0b22aedc4583d381867a145ae2bad9c8",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
