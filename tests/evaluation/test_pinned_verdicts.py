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

From ``pausewatch-rules/1`` on, verdicts name their rules (``pausewatch.evaluation.RULES``): a
change of results re-pins these digests *with a new* ``RULES`` (the pins below are that version's,
``test_the_pins_are_those_of_the_current_rules``), so that an auditor of either release tells a
verdict of other rules from a lie (``verdict.rules``, not ``verdict.mismatch``).
"""

from __future__ import annotations

from pausewatch.evaluation import RULES
from tests.evaluation.golden import clean_digests, verdict_digests

PINNED_RULES = "pausewatch-rules/4"  # the rules the digests below were taken under

MIXED = {
    1: {
        "c0@82": "546cca29060c4cab8cd2cbe48783a642c31bacfad4c5f569f5c097992fce5809",
        "c0@168": "0fe2073d6044a670b5c4a786f9841eb12b13530a1361e3e48e2fb6e3f1546d2d",
        "c0@215": "726976f4af6d3c7b356d4a5116e31f9b10309ad9685f9680637d18b5e2539d62",
        "c1@82": "c3bb8f5348d9e9dce267ddd7186100b5bbd8741d21397ba6db245f895b8e173f",
        "c1@168": "a8b79571a37eeb2444379f2b6d47f9b9c03e0c934b531ad7925a6deab368abd8",
        "c1@215": "3ed341d67aae4f62aca5a57f8e1c4eafab3bb180ba16073500240ed16aba1190",
        "c2@82": "d9d7d6ad00dbec4231a0829eac94ab1616e08ae4b151eb2342b7605d2a679d56",
        "c2@168": "63ac7402aa160a9c48aed840935bd42011970e258328323e58637f98c737516c",
        "c2@215": "c314b19d44e773a4f92de38b97552b023cd6c3d4fc7800d5c3e224c9ff0c60b7",
    },
    2: {
        "c0@81": "bb445fa9a8d2c98d05362b3c56263aef80a849c47b961a9510b377ae421ce503",
        "c0@173": "3340ad79c822f889c0021dc8e3a87e978c0d165708a1a0d6ae8d74b223a5b658",
        "c0@220": "e5d2b730fa073a5e0765e7451992782108c6e3dff9616afddae1c3dd02ddecf6",
        "c1@81": "57bae97f8c6eb150bc43148741f367d66c87313ac8d138a1bb475c11f7eb5c56",
        "c1@173": "9bf505e67c5dc95c6c34663f6fd2bb662a270b7cbc7439797fb7e5e0696e1175",
        "c1@220": "312015d67dd96fe0fb85038d8817eaed4ce571da3c73828a3e85578333a1ffc3",
        "c2@81": "8562cd087ddb5a525bb961a5cfdfad2212fc5b08d159c0a1f180469eccf4c880",
        "c2@173": "990f3fa78ddb6412d2f835a3486c73f14aa4e92b8a6aa43cba623724ca5a688b",
        "c2@220": "e3a0a19411015ad29a1283410b4a7f31e6bc26f86240ad4fb1227390eaf52758",
    },
}

CLEAN = {
    "idle/c0": "709c0477365641d5fc6ae5f739c9e29b8ed014811fc322300a04d8f3b8d166e3",
    "idle/c1": "83be8daf47cb38bdbcc04016e7a44b2722fdcdb34a4597513ee4938caf8835c8",
    "inference/c0": "08a333c01f9478740fb5dbaf949af19f50035b497d8429f55af9d9fdafe0c43a",
    "inference/c1": "17da97bff439a1af8abf868119cb676cb4487698f0622f2a1a6a1c2ffa19b855",
    "training/c0": "9cd529313c69d646ce0474763b089fda00a66c43db6d9805df80b18bb9d4370f",
    "training/c1": "ec14597265943d6b95da7bc6d1ed717b34f5fa02b8717268d3ad653b81366385",
}


def test_mixed_fleet_verdict_bytes_are_pinned() -> None:
    for seed, expected in MIXED.items():
        assert verdict_digests(seed) == expected, f"seed {seed}"


def test_honest_fleet_verdict_bytes_are_pinned() -> None:
    assert clean_digests() == CLEAN


def test_the_pins_are_those_of_the_current_rules() -> None:
    # A new RULES changes every digest (verdicts name their rules): re-pin them all with it.
    assert RULES == PINNED_RULES
