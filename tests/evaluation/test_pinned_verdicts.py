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
``energy.silent_draw`` WARNINGs; no status changes.

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
        "c0@82": "556514f4ebfda1581e87becdfd7ea3a5bdadac979d54cabaf40e33572ae8bf31",
        "c0@168": "834fe108706beda184451609380a8d78a35a355674b9ca7c13ada17b756b7846",
        "c0@215": "ae1faf735028badb89933a8e40102d48d1f7455153a5d742713a32b69ccf3bc2",
        "c1@82": "231d0d541962904c9b2497b588d1f8c2f0525e072721ac20766af79b65b71e47",
        "c1@168": "059328c749d80f5471f79e8ca6beff535c6caa07c5f8f3890a2eacd555516f1f",
        "c1@215": "d0abad83b35572bcbc2fc9db60a908e72ddc0a75d932bf8ef7bdd6614966427f",
        "c2@82": "c7caf152dd61507e679c16f8c0b59f7a5a480b0a31eda78ff700aff18204071e",
        "c2@168": "f29c84f66e0d3f253a98d3e7b8fd162d19c35dc7bab9b7f9f365199d668a3867",
        "c2@215": "9c5c446e2bc653fba3fd9886a8fe3c54cf2a291adcf87088dc9b00e19266ce4d",
    },
    2: {
        "c0@81": "36b1bac9f25278f1b5671ad34e256b3f735233bb60171cc3e22e0f61314bea18",
        "c0@173": "3e87a422c219cc1f0db30da871dbe0d318532883a7f2a4afd975bbb7271997f5",
        "c0@220": "4a88c733976fa72b0a244acba80f489dda6fba0febb52b655a1283aa60ec22d6",
        "c1@81": "400a0fca0091e01bd73dd0a537d553ed849ce6c3aa499e3f704508dd9bb13d63",
        "c1@173": "4bfa410b34b5feee4c462204bae7e46814cddfb5e5c6d66038f726f1e43cfb19",
        "c1@220": "3fa27f0b1d9c7cc3bfbce8fee785970b77161335d550eba58b801cd80da1f3eb",
        "c2@81": "25299b9defd3133f69a1afa2431fbe95266ed75ad7911e30e9e3ec54ef46de4c",
        "c2@173": "03aef48732afc3cd4dcda7741ff79946b59c8d8e0e9aa7e8678cf306c4e9c37a",
        "c2@220": "eeecef0691de152415d441eed40a3449de202eb0c852bcf7f34216e4a09bf3a7",
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
