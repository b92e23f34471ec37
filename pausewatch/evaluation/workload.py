"""Workload class of a node, report period by report period, from the node's causal history.

``classify_node_history(periods)`` gives each report period of one node a ``WorkloadLabel``:

- ``idle`` — every device quiet (max power ≤ 25 % of board power and ≤ 50 % of the enforced
  limit, utilisation ≤ 5 %, no tensor/SM activity), with no model loading and no job paused
  (below). Positive evidence.
- ``inference`` — a light, request-sized load: mean power ≤ 45 % of the limit, utilisation
  ≤ 60 %, and not an on/off load at one flat level (a duty cycle, not requests; judged on each
  device, or on the majority where three or more are active); where
  only utilisation is reported (≤ 50 %), or the power of every active device is steady within
  the period (CV under ``FLAT_CV``: a steady light job, not requests), or some active device
  never dropped near idle in it (its lowest sample over ``QUIET_BOARD_RATIO`` of its board: no
  gap between requests), the load must also change from period to period as requests come and
  go; and most active devices must not have
  repeated at one step period in three periods of the context (an optimiser loop, in lockstep
  or, pipeline stages, not; the current period need not show it); and no model loading
  (below). Positive evidence of allowed work.
- ``training`` — the training signature, at the violation threshold (see below).
- ``other`` — busy without tensor-pipe work, where the source reports it (video encoding,
  graphics, non-tensor burns), whatever its shape: a stress test cycling in lockstep is not
  training. Neither proof nor violation.
- ``uncertain`` — everything else: sustained heavy compute that nothing identifies (batched
  generation, burn-in, training whose structure has not shown yet, training with its pauses
  filled), one busy GPU alone, node power alone. Neither proof nor violation: INCONCLUSIVE,
  and the commitment's compute bound still applies.

**What a report can show.** A ``UsageReport`` carries, per device and period, power
mean/min/max/variance, the dominant period and periodicity of the power signal, its synchrony
with the node's other devices, utilisation, memory, tensor/SM activity and link bytes
(``pausewatch.features`` computes the shape fields in the attestor). Minutes-scale structure
comes from the sequence of those summaries: the period being classified and every earlier
period of the node that ended less than ``CONTEXT_S`` before it, the stalls of the same job
in the ``EARLIER_S`` before that, and a job's carry over ``HISTORY_S`` (causal: a later report
never changes an earlier class; deterministic).

**The training signature** (each part measured on the active devices, ratios of power taken
against the enforced limit capped at the board power, so that a lowered limit does not hide
training):

1. *lockstep*: at least two active devices whose synchrony has a median ≥ 0.8 (data-parallel
   ranks wait for each other at every all-reduce). Idle devices of the node are left out, so
   training on k of n GPUs is not diluted. Where other work runs on the rest of the node, the
   devices joined to their closest peers (``peer_synchrony`` ≥ ``GROUP_SYNC``, ``peer_index``)
   form lockstep groups, and each group is judged alone over the context as its devices see
   it, needing its step rhythm besides the rest (``_group_training``). Where the source
   reports NVLink traffic, devices that move together but exchange nothing (under
   ``LINK_MIN_BPS`` in every lockstep period) are not ranks at an all-reduce but replicas a
   host gates together: no training evidence (never proof either).
2. *one job*: the lockstep devices keep one resident memory footprint (≥ 2 GiB, within ±10 %)
   over the part of the context being counted; the period where it appeared (start-up) does
   not count as a stall, nor does the oldest period read (its predecessor, which would say
   whether it was the start-up, is not).
3. *structure*, one of:
   - a **stall/compute alternation** the job resumes from: a period where the lockstep devices
     swing from compute (≥ 45 % of the limit) to a stall (≤ 40 % of the limit or ≤ 30 % of board
     power) and back, at two flat levels (variance ≥ 0.6 × (mean − min)(max − mean)), each phase
     seconds long, *followed* by lockstep compute at the same level (±12 %) — a checkpoint or
     sync stall; a load that simply ends never resumes. Whole periods of compute and whole
     quiet periods switching back and forth (a job paused period by period) count too, from
     three switches in the context. The job's compute levels must agree (±12 %, three
     quarters of them) and be steady: their coefficient of variation at most 2 % (a lull's
     periods, under half the median level, left out)
     (``LEVEL_STEADY_CV``; a loop computes at one level between its checkpoints, a server
     drained on a schedule resumes wherever its traffic sets it). Two such
     stalls at least (``EVENTS``): one dip of a lockstep server (a lull in its requests, an
     evaluation loop's pause) resumed at its level is one stall, and it would label every
     period of the context and the carry after it. One lull is one event however it falls on
     the periods (``_stall_events``); where the context shows one stall, the same job's
     earlier ones count, up to ``EARLIER_S`` before it, where the job kept its footprint and
     computed at its level (±8 %, ``HISTORY_LEVEL_AGREE``) throughout (``_job_history``: a
     server's load follows its traffic).
   - a **lockstep step rhythm**: the same dominant period (±10 %, 2–30 s, autocorrelation
     ≥ 0.3) in three periods, together with two events at least of collective waits
     (utilisation ≥ 90 % at ≤ 35 % of the limit: ranks spinning in an all-reduce while one
     writes a checkpoint) and stalls: an evaluation loop has a step rhythm too.
4. the period itself belongs to the job: lockstep, or a pause that keeps the footprint.

**Sampling density and spikes.** Shape evidence (a stall inside a period, a step rhythm, the
duty-cycle test of a light load) needs ``SHAPE_MIN_SAMPLES`` samples in the period: logged every
3–10 s, request bursts look like stalls. And a stall's compute phase must be a level: the upper
level of the two-level signal with the period's min, mean and variance (``_upper_level``) within
``LEVEL_AGREE`` of its max, so that a one-second prefill peak is not a compute level a job
"resumes" at.

**Start-up and pauses are no proof.** Two states compute nothing yet are part of a job, so they
are ``uncertain``, never ``idle`` or ``inference``:

- *a model loading* (``_loading``): a device whose power stays in the idle band while its memory
  grows by ``LOADING_BPS`` (240 MiB a minute) or more since its last reading — a training run's
  start-up looks exactly like a server's. Without an earlier reading, a model-sized footprint
  (``MEMORY_MIN_BYTES``) counts as just loaded. A computing device that held less than a
  model's size at its last reading and a model's size more now loaded and started within the
  period: a start-up too. Read
  only where power is reported: the memory of utilisation-only pods churns as they serve.
- *a paused job* (``_paused_job``): the node quiet right after heavy compute (powered devices
  beyond ``LIGHT_MEAN``), with no request-sized load since and every device still holding that
  compute's memory (±10 %), for ``CARRY_GAP_S`` (5 min) after it — a blocking checkpoint or a
  data wait of a job whose compute showed no training structure (out of lockstep). A node that
  frees the memory is idle at once; one that keeps it, after 5 minutes.

Memory is each period's maximum: a footprint freed and partly reloaded inside one period reads
as no growth, and the next period shows the load.

**Job carry.** Evidence reads a 10-minute context, but real runs checkpoint every half hour or
hour and compute flat in between. A job that showed the signature keeps the training class for
``JOB_CARRY_S`` (1 h) after its last evidence, in every period where the same devices compute in
lockstep at its level (±6 %, ``CARRY_LEVEL_AGREE``), while each of them keeps its resident
footprint (±10 %) and the node is never silent for over ``CARRY_GAP_S``; a period whose context
shows the job drained twice at unsteady levels is not carried (``_drained``). A new footprint
(a restart, another job) ends the carry at once; a period of another level (an evaluation
phase) is not carried but does not end the job. The cost of the carry is that a server which
once looked like training stays ``training`` for up to an hour at its level; nothing is ever
carried into ``idle`` or ``inference``.

**Hindsight.** Given the verdict buckets (``classify_node_history(..., bucket=)``), the
``uncertain`` periods before a job's first evidence in the same bucket in which it was already
at work (as the carry, walking back) are ``training`` too, as the bucket's verdict, issued at
its end, sees them (``PeriodClass.hindsight``; never counted as evidence of a violation).

Sustained lockstep compute alone is *not* training: tensor-parallel serving and batched
generation show it too, and a filler load injected into training's pauses leaves only that.

``training_score`` agrees with the label (``TRAINING_EVIDENCE`` and above for training,
``PROOF_MAX_SCORE`` and below for idle and inference, in between otherwise) and grows with the
evidence; ``PeriodClass.reason`` says which evidence decided.

Measured (``pausewatch-sim classify-eval``; docs/classify.md has the table): on every labelled
real source, no training second classed idle or inference and no other second classed
training; training recall by time 0.38 on the 8×H100 runs causally (the minutes before a
run's second stall, or its rhythm with waits, come out uncertain), 1.00 with hindsight; node
power alone (the H200 BMC log) is uncertain throughout. Known blind spots, each INCONCLUSIVE
rather than a false verdict unless said:

- single-GPU training (no lockstep) and multi-node training with one GPU per node: uncertain,
  except light, I/O-bound training on one GPU, which can pass for requests or idle (rank 0 of
  the real checkpoint-every-step run alone: a false proof, xfail);
- training whose pauses are filled with synthetic load, or which stalls less than twice
  within ``EARLIER_S`` + ``CONTEXT_S`` (flat compute checkpointed every hour, its steps too
  short to show a rhythm at 1 Hz): uncertain until two stalls or a rhythm with waits show —
  INCONCLUSIVE, never VIOLATION;
- a saturated lockstep server paused for seconds between runs at the same level (benchmark
  sweeps), or one whose requests pause twice within the hour, looks like checkpoint stalls:
  a false ``training`` (tests mark it xfail);
- independent replicas serving sparse bursts: a period where most of them happen to look on/off
  at one level is uncertain (2–3 % of the periods of the simulator's i.i.d. burst profile); one
  duty-cycled GPU among three or more lightly loaded ones passes for inference;
- a job paused for over 5 minutes, or one that moves its memory off the GPUs while paused, is
  idle in the pause; a model loaded slower than 240 MiB a minute is not seen loading (minutes
  in which nothing computes either way);
- fabricated telemetry defeats any classifier: that is what the meter energy balance and the
  power/activity plausibility checks are for; MIG or shared devices report the whole board.

"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, Literal, NamedTuple

from pausewatch.peaks import UNKNOWN_MODEL_PEAK, contradicted, lookup_peak
from pausewatch.v1 import types_pb2

__all__ = [
    "CONTEXT_S",
    "HISTORY_S",
    "JOB_CARRY_S",
    "PROOF_MAX_SCORE",
    "TRAINING_EVIDENCE",
    "DeviceSignals",
    "NodeSignals",
    "PeriodClass",
    "PeriodSignals",
    "Startup",
    "WorkloadLabel",
    "accelerator_values",
    "classify_node_history",
    "device_signals",
    "drawn_w",
    "held_bytes",
    "measured_values",
    "signals_from_usage",
]


class DeviceSignals(NamedTuple):
    """What the classifier reads of one device over one period (SI units; None: not given).

    A named tuple rather than a frozen dataclass: the evaluation builds one per accelerator
    and report, and a tuple is several times cheaper to build.
    """

    power_mean_w: float | None = None
    power_min_w: float | None = None
    power_limit_w: float | None = None
    power_variance_w2: float | None = None
    busy_fraction: float | None = None
    sm_active: float | None = None
    tensor_active: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    nvlink_bytes_per_s: float | None = None
    periodicity: float | None = None
    dominant_period_s: float | None = None
    synchrony: float | None = None
    power_max_w: float | None = None
    board_power_w: float | None = None
    pcie_bytes_per_s: float | None = None
    sample_count: int = 0
    peer_synchrony: float | None = None
    peer_index: int | None = None  # position of that peer among the period's devices
    # mean power from a hardware energy counter over the whole period (``ENERGY_METHOD_COUNTER``):
    # what the device drew between its samples too
    counter_power_w: float | None = None


class NodeSignals(NamedTuple):
    devices: tuple[DeviceSignals, ...]
    infiniband_bytes_per_s: float | None = None
    node_power_w: float | None = None  # BMC mean over the period


class WorkloadLabel(StrEnum):
    """What a node did over one report period, as the evaluation uses it.

    ``idle`` and ``inference`` are positive evidence (a period may count toward COMPLIANT where
    that work is allowed); ``training`` is evidence at the violation threshold; ``uncertain``
    (busy, nothing proves what) and ``other`` (busy, not ML-like) are neither.
    """

    IDLE = "idle"
    INFERENCE = "inference"
    TRAINING = "training"
    UNCERTAIN = "uncertain"
    OTHER = "other"


class PeriodSignals(NamedTuple):
    """One report period of one node: its span (unix ns) and the classifier's view of it."""

    start_ns: int
    end_ns: int
    signals: NodeSignals


Startup = Literal["", "load", "start"]  # ``PeriodClass.startup``


class PeriodClass(NamedTuple):
    """The class of one period and how it was reached.

    ``training_score`` is 0 … 1 and agrees with ``label``: at least ``TRAINING_EVIDENCE`` for
    ``training``, at most ``PROOF_MAX_SCORE`` for ``idle`` and ``inference``, in between for
    ``uncertain`` and ``other``. ``workload`` is the nearest wire class (``WorkloadClass``:
    training for training, idle for idle, inference for everything else); decisions are made on
    ``label``, never on ``workload``.
    """

    label: str
    training_score: float
    confidence: float
    active_devices: int
    workload: int
    reason: str = ""
    # ``training`` known only from a later period of the same bucket (``classify_node_history``
    # with ``bucket``): the time a job ran, never evidence on its own
    hindsight: bool = False
    # ``uncertain`` as a start-up only (``_loading``): ``"load"``, a node that computes nothing
    # while a model loads, or ``"start"``, the minute a job or a server started. Loads back to
    # back and the start that ends them are one start-up (``rules``); two starts are two
    startup: Startup = ""
    # ``uncertain`` only for want of samples: quiet at every sample, too sparse to stand for the
    # period with no energy counter spanning it (``SPARSE_REASON``). A daemon's first period is
    # one (its counter does not reach back before its first sample): ``rules`` excuses one a bucket
    sparse: bool = False


CONTEXT_S: Final[float] = 600.0
JOB_CARRY_S: Final[float] = 3600.0  # a job keeps its training class this long after its last evidence
# A job's earlier stalls are read this far before the context (``_job_history``) ...
EARLIER_S: Final[float] = JOB_CARRY_S
# ... so a period's class may look back this far: a carry of ``JOB_CARRY_S`` from evidence that
# read a context and the stalls before it
HISTORY_S: Final[float] = CONTEXT_S + EARLIER_S + JOB_CARRY_S
CARRY_GAP_S: Final[float] = 300.0  # a longer silence of the node ends a job's continuity
TRAINING_EVIDENCE: Final = 0.75
PROOF_MAX_SCORE: Final = 0.35

# ---- thresholds (power ratios are of the enforced limit, capped at the board power) ----------
QUIET_BOARD_RATIO: Final = 0.25  # max power ≤ 25 % of board power (idle boards: 7–23 %) ...
QUIET_LIMIT_RATIO: Final = 0.5  # ... and ≤ 50 % of a (possibly lowered) enforced limit ...
QUIET_BUSY: Final = 0.05  # ... and utilisation at or below 5 %: no compute worth the name
LOCKSTEP_SYNC: Final = 0.8  # median synchrony of the active devices: they move in lockstep
GROUP_SYNC: Final = 0.9  # a device and the one it follows most closely: one lockstep group
SWING_MIN: Final = 0.25  # compute − stall power, share of the limit: a real stall, not noise
TWO_LEVEL_MIN: Final = 0.6  # variance / ((mean − min)(max − mean)): two flat levels, not a spread
STALL_MAX: Final = 0.4  # stall power at most 40 % of the limit (or 30 % of board power)
STALL_MAX_BOARD: Final = 0.3
COMPUTE_MIN: Final = 0.45  # compute (max) power at least 45 % of the limit
HIGH_SHARE: Final = (0.1, 0.9)  # time at the compute level: both phases last seconds, not one sample
# A period's shape (its phases, its rhythm, whether a light load is a duty cycle) is read from
# this many samples at least: each phase then holds two samples at the ``HIGH_SHARE`` bound.
# Sparser sampling (nvidia-smi -l 5, an attestor set to sample every 5 s) shows random bursts
# as "stalls" and hides duty cycles: such periods are neither training by shape nor inference.
SHAPE_MIN_SAMPLES: Final = 25
# What a sample speaks for: NVML averages power over about a second and utilisation over a
# fraction of one, so a period sampled once a minute is seen for one second of sixty, and a job
# that pauses at the sampling instants reads idle at every sample (every 2 s, a job at full power
# a quarter of the time, paused for the second before each sample, read idle). A quiet period
# proves idle (and a light load read from utilisation alone proves serving) only where the
# samples stand for the whole period — one at least every ``COVER_S`` seconds, about one a
# second — or where a hardware energy counter spans it. The counter's mean is what the device
# drew between the samples too: quiet only where it agrees with the sampled power
# (``COUNTER_AGREE`` over the sampled max, the sensors' accuracy) or, with no power reported,
# within the quiet bounds; light only where it agrees with the sampled mean within its sampling
# slack (with no power reported, within ``LIGHT_MEAN``). The count stands in for the gaps,
# which a report does not carry: 55 samples a minute can leave one hole of 5 s.
COVER_S: Final = 1.1
COUNTER_AGREE: Final = 0.1
PLATEAU_MIN: Final = 0.45  # a sustained compute period: never below 45 % of the limit ...
PLATEAU_MEAN: Final = 0.6  # ... and 60 % of it on average
WAIT_BUSY: Final = 0.9  # a collective wait: every kernel slot busy ...
WAIT_MEAN: Final = 0.35  # ... at low power (spinning in an all-reduce while a rank does I/O)
SWITCHES: Final = 3  # whole-period compute/quiet switches in the context that make a duty cycle
# Structural events (stalls the job resumed from, collective waits) the training signature needs,
# one in the context at least and the rest by the same job within ``EARLIER_S`` before it: one
# dip of a lockstep server looks like one checkpoint stall (a VLM evaluation replicated on 4 GPUs
# read ``training`` 48 minutes from one dip).
EVENTS: Final = 2
# A stall period inside an episode of them is an event of its own where its devices computed a
# third of it at least (a job stalling every minute computes half of each); a lull with one
# request batch in its middle period computes a sixth of it. (A job computing less of every
# minute still shows an event for each stall beyond the two that end its episode.)
EPISODE_SHARE: Final = 1 / 3
# Earlier stalls are the same job's only through periods at its level within ±8 %: a training
# loop computes at one level between its checkpoints (the real 8xH100 run's per-minute maxima
# within ~3 %), a server's load follows its traffic. At ±12 % a tensor-parallel server drained
# 30 s every half hour was training with 4 seeds of 11 (a red team, 2026-12-06).
HISTORY_LEVEL_AGREE: Final = 0.08
LEVEL_AGREE: Final = 0.12  # the job's compute levels agree within ±12 % (three quarters of them)
# Stall/compute alternation is training only where the job's compute levels in the context are
# steady: their coefficient of variation at most 2 %. A training loop computes at one level
# between its checkpoints (the real 8xH100 run's per-minute maxima: 1.2 %, its stall minutes
# included); a server drained on a schedule resumes at whatever its traffic sets. Without this,
# a tensor-parallel server drained for 15-30 s every 1, 2, 5, 10 or 12 minutes was VIOLATION at
# nearly every seed (an honest-fleet hunt, 2026-12-06: its contexts' CV 1.4-11 %, 4 in 1,000
# under 2 %). The price: training whose per-minute maxima wander more (a loop whose step cost
# changes, a power cap moved minute by minute) shows no alternation evidence; it stays
# ``uncertain`` (INCONCLUSIVE, the compute bound still applies) unless its step rhythm shows.
LEVEL_STEADY_CV: Final = 0.02
# A job carries its training class forward only through periods within three times that of its
# level (±6 %): a server drained on a schedule, found steady for ten minutes, drifted on with its
# traffic and stayed "training" at ±12 % for 20-45 minutes of each hour. (Hindsight, which is
# never evidence of a violation, still walks back at ``LEVEL_AGREE``: a job's first minute.)
CARRY_LEVEL_AGREE: Final = 3 * LEVEL_STEADY_CV
RHYTHM_MIN: Final = 0.3  # autocorrelation at the dominant lag
RHYTHM_RANGE_S: Final = (2.0, 30.0)  # step rhythms visible at 1 Hz in a 60-s period
RHYTHM_AGREE: Final = 0.1  # dominant periods of the job's periods agree within ±10 %
RHYTHM_PERIODS: Final = 3  # periods in the context with that lockstep rhythm
# A dominant period is a whole lag of the 1-Hz sampling: a 17-s step reads 16, 17 or 18 s, which
# ±10 % of 16 or 18 does not join. Steps that say "no proof" (``_steps``) agree within one lag
# more; the training evidence keeps ``RHYTHM_AGREE`` alone.
STEP_QUANTUM_S: Final = 1.0
MEMORY_STABLE: Final = 0.1  # the job's memory footprint varies by at most 10 %
MEMORY_MIN_BYTES: Final = 2.0 * 2**30  # a footprint worth the name (a model's weights at least)
LIGHT_MEAN: Final = 0.45  # mean power at most 45 % of the limit: a light, request-sized load
LIGHT_BUSY: Final = 0.6  # utilisation at or below (with power): not saturated
LIGHT_BUSY_ONLY: Final = 0.5  # utilisation at or below where no power is reported
LIGHT_SAMPLING_Z: Final = 2.0  # standard errors of a sampled mean allowed over the light bounds
LIGHT_MIN_SAMPLES: Final = 15  # the sample count the slack assumes at least
DUTY_TWO_LEVEL: Final = 0.75  # above this an on/off load at one level is a duty cycle, not requests
LOAD_VARIATION: Final = 0.15  # period-to-period CV of the load that says "follows requests" ...
LOAD_PERIODS: Final = 3  # ... over at least this many periods (utilisation-only or flat loads)
FLAT_CV: Final = 0.05  # power CV within the period under which a light load is steady, not bursty
NON_ML_TENSOR: Final = 0.05  # tensor-pipe activity below this while busy: not ML (encode, graphics)
LINK_MIN_BPS: Final = 1e6  # NVLink bytes/s under which, where reported, devices exchange nothing
# Two or more active devices that may exchange data and each follow another this closely
# (``peer_synchrony``), and beyond what chance gives their sample count (``LINKED_Z`` standard
# errors of a correlation of independent signals, 1/sqrt(n - 3)), work as one job: their load
# is no proof of requests, however light (``_linked_bursts``). A job's 10-20 s lockstep bursts
# beside serving in the simulator follow their closest peer at 0.45-0.8; independent servers at
# 0.04-0.42, and real traces' independent replicas at up to 0.87 in a period now and then (a
# robustness test, 2026-12-06: at 0.4 a third of their light minutes lost their proof, at 0.5
# one in 24; 30 samples of independent noise pass 0.4 often over a node's 28 pairs, hence the
# chance bound). At 0.6 bursts of 4-6 s a minute sampled every second passed. Devices whose
# NVLink counters read no traffic exchange nothing and are left out: replicas that a scheduler
# switches on and off together, or that one traffic curve drives (the library's
# ``inference-on-off`` and ``verifier-outage``), follow each other too. The price: a job with
# peer-to-peer disabled reads 0 there truthfully (a red team: 23 % of the GPU-time COMPLIANT at
# 14 s a minute).
LINKED_SYNC: Final = 0.5
LINKED_Z: Final = 3.0
# Memory growing this fast (bytes a second; 240 MiB a minute) on a device that computes nothing
# is a model being loaded: no proof of idle or of serving, whichever job it is loaded for.
LOADING_BPS: Final = 4.0 * 2**20
LOADING_REASON: Final = (
    "memory growing on a device that computes nothing: a model loading, for serving or training"
)
STARTING_REASON: Final = (
    "a model's worth of memory new on a computing device that held none at its last reading: a"
    " job or a server starting, for serving or training alike"
)
COUNTER_REASON: Final = (
    "quiet at its samples, but its energy counter says it drew more between them: unproven"
)
# Independent replicas serving requests exchange nothing between devices; a device that moves
# data over NVLink works with another (on the node, or across a rack's NVLink fabric), one job (a
# sharded server, or a data-parallel training job's all-reduces), and a light load of one job is
# no proof of requests: training bursts on 2-3 of a node's 8 GPUs at a 300-W cap, beside serving
# on the same GPUs, kept their power correlation under ``LINKED_SYNC`` and were ``inference``,
# COMPLIANT (a red team of rules/13, 2026-12-07). One device is enough: one rank a node, its
# peers on other nodes of the fabric, has none on its own node to show the traffic.
EXCHANGING_REASON: Final = (
    "light load on a device exchanging data over NVLink: one job, not independent requests"
)
SPARSE_REASON: Final = (
    f"quiet at its samples, but sampled sparser than every {COVER_S:g} s with no energy counter:"
    " what ran between the samples is unproven"
)


class _Device(NamedTuple):
    """One device over one period, reduced to what the rules read (ratios of the limit)."""

    slot: int  # position in the report (devices keep their order: sorted by uuid)
    has_power: bool
    r_mean: float
    r_min: float
    r_max: float
    min_of_board: float
    cv: float
    two_level: float | None  # variance / ((mean − min)(max − mean)); None: no real spread
    high_share: float | None  # (mean − min) / (max − min): time at the upper level
    busy: float | None
    tensor: float | None
    memory: float | None
    sync: float | None
    peer: int | None  # the device it moves with most closely, where that is ≥ ``GROUP_SYNC``
    rhythm_s: float | None
    quiet: bool
    known: bool
    link: float | None = None  # NVLink bytes/s, where the source reports it
    busy_slack: float = 0.0  # sampling error allowance of ``busy`` (see ``_sampling_slack``)
    mean_slack: float = 0.0  # sampling error allowance of ``r_mean``
    shaped: bool = False  # sampled densely enough (``SHAPE_MIN_SAMPLES``) to read its shape
    no_compute: bool = False  # power in the idle band (utilisation ≤ 5 % where no power is reported)
    covered: bool = True  # samples every ``COVER_S`` or a hardware energy counter span the period
    counter_r: float | None = None  # the counter's mean power, share of the limit
    # how far the counter's mean exceeds what the samples allow (``COUNTER_AGREE`` over their
    # max), share of the limit; 0 without a counter or a power reading
    counter_excess: float = 0.0
    samples: int = 0
    # the Pearson correlation with the device it follows most closely, however low
    peer_sync: float | None = None


class _Period(NamedTuple):
    """One period of the node, reduced once and read by every later period's context."""

    start_ns: int
    end_ns: int
    devices: tuple[_Device, ...]
    active: tuple[_Device, ...]
    known: bool  # some device reported power or utilisation
    quiet: bool  # every device known and quiet
    lockstep: bool  # ≥ 2 active devices moving together
    stall: bool  # lockstep stall/compute alternation inside the period
    plateau: bool  # lockstep sustained heavy compute, no stall
    wait: bool  # lockstep collective wait (busy at low power)
    rhythm_s: float | None  # lockstep step rhythm
    compute_level: float | None
    light: bool
    blind: bool  # light judged from utilisation alone (no power reported)
    flat: bool  # every powered active device steady (``FLAT_CV``), or one never near idle, in the period
    load: float  # median active share (power of the limit, else utilisation); 0 when quiet
    non_ml: bool
    step_s: float | None  # most active devices repeat at this period, in lockstep or not
    node_power_w: float | None  # the BMC's, when reported
    groups: tuple[frozenset[int], ...] = ()  # lockstep groups beside other work (not ``lockstep``)
    covered: bool = True  # every device ``covered``: a quiet period proves idle
    linked: bool = False  # ≥ 2 active devices that may exchange data follow each other (``LINKED_SYNC``)
    exchanging: bool = False  # an active device moves ``LINK_MIN_BPS`` or more over NVLink


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _device(i: int, d: DeviceSignals, count: int, seconds: float) -> _Device:
    board = d.board_power_w if d.board_power_w and d.board_power_w > 0 else None
    limit = d.power_limit_w if d.power_limit_w and d.power_limit_w > 0 else board
    if limit is not None and board is not None:
        limit = min(limit, board)
    has_power = d.power_mean_w is not None and limit is not None
    shaped = d.sample_count >= SHAPE_MIN_SAMPLES
    r_mean = r_min = r_max = min_of_board = cv = 0.0
    two_level: float | None = None
    high_share: float | None = None
    if has_power and limit is not None and d.power_mean_w is not None:
        mean = d.power_mean_w
        low = d.power_min_w if d.power_min_w is not None else mean
        high = d.power_max_w if d.power_max_w is not None else mean
        r_mean, r_min, r_max = mean / limit, low / limit, high / limit
        min_of_board = low / (board or limit)
        if d.power_variance_w2 is not None and mean > 0:
            cv = math.sqrt(max(0.0, d.power_variance_w2)) / mean
        spread = (mean - low) * (high - mean)
        if (
            d.power_variance_w2 is not None
            and spread > 0
            and high - low >= 0.05 * limit
            and shaped
        ):
            two_level = min(1.0, d.power_variance_w2 / spread)
            high_share = (mean - low) / (high - low)
    busy = d.busy_fraction
    known = has_power or busy is not None
    if has_power:
        no_compute = (
            r_max * (limit or 0.0) <= QUIET_BOARD_RATIO * (board or limit or 0.0)
            and r_max <= QUIET_LIMIT_RATIO
        )
        quiet = no_compute and (busy is None or busy <= QUIET_BUSY)
    else:
        quiet = no_compute = busy is not None and busy <= QUIET_BUSY
    if any(a is not None and a > 0.02 for a in (d.tensor_active, d.sm_active)):
        quiet = False
    counter_r: float | None = None
    counter_excess = 0.0
    if d.counter_power_w is not None and limit is not None:
        # what the device drew between its samples too: a job paused at each sampling instant
        # reads quiet at every sample, not on its counter
        counter_r = d.counter_power_w / limit
        if has_power:
            # judged against the node's period before (``_counter_disagrees``): the counter's
            # first interval reaches back to that period's last sample
            counter_excess = max(0.0, counter_r - (1.0 + COUNTER_AGREE) * r_max)
        elif not (
            d.counter_power_w <= QUIET_BOARD_RATIO * (board or limit) and counter_r <= QUIET_LIMIT_RATIO
        ):
            quiet = no_compute = False
    covered = counter_r is not None or d.sample_count * COVER_S >= seconds * (1.0 - 1e-9)
    peer = d.peer_index
    if (
        peer is None
        or d.peer_synchrony is None
        or d.peer_synchrony < GROUP_SYNC
        or not 0 <= peer < count
        or peer == i
    ):
        peer = None  # not close enough, or not a device of the period (a bad report: ignored)
    rhythm: float | None = None
    if (
        shaped
        and d.periodicity is not None
        and d.dominant_period_s is not None
        and d.periodicity >= RHYTHM_MIN
        and RHYTHM_RANGE_S[0] <= d.dominant_period_s <= RHYTHM_RANGE_S[1]
    ):
        rhythm = d.dominant_period_s
    return _Device(
        i,
        has_power,
        r_mean,
        r_min,
        r_max,
        min_of_board,
        cv,
        two_level,
        high_share,
        busy,
        d.tensor_active,
        d.memory_used_bytes,
        d.synchrony,
        peer,
        rhythm,
        quiet,
        known,
        d.nvlink_bytes_per_s,
        _sampling_slack(LIGHT_BUSY * (1.0 - LIGHT_BUSY), d.sample_count),
        _sampling_slack(cv * cv * r_mean * r_mean, d.sample_count) if has_power else 0.0,
        shaped,
        no_compute,
        covered,
        counter_r,
        counter_excess,
        d.sample_count,
        d.peer_synchrony if d.peer_index in range(count) and d.peer_index != i else None,
    )


def _sampling_slack(variance: float, samples: int) -> float:
    """How far a mean of ``samples`` point samples may sit above the true mean by chance:
    ``LIGHT_SAMPLING_Z`` standard errors, the count floored at ``LIGHT_MIN_SAMPLES`` (so a
    report claiming very few samples buys no more slack than a sparse honest one). None
    reported: no slack. A serving node sampled every 10 s reads a bursty minute's utilisation
    from six samples; one device over 0.6 by chance is not evidence of heavy work."""
    if samples <= 0 or variance <= 0:
        return 0.0
    return LIGHT_SAMPLING_Z * math.sqrt(variance / max(samples, LIGHT_MIN_SAMPLES))


def _upper_level(d: _Device) -> float:
    """The upper level of the two-level signal with ``d``'s min, mean and variance (share of
    the limit): with a share s of the time at u and the rest at min, mean − min = s(u − min)
    and variance = s(1 − s)(u − min)², so u = min + (variance + (mean − min)²) / (mean − min).
    Equal to max for a true two-level signal; below it when max is a brief spike."""
    a = d.r_mean - d.r_min
    if a <= 0.0:
        return d.r_max
    variance = (d.cv * d.r_mean) ** 2
    return min(d.r_max, d.r_min + (variance + a * a) / a)


def _duty_like(d: _Device) -> bool:
    """On/off at one flat compute level, each phase seconds long: a duty cycle, not requests."""
    return (
        d.r_max >= 0.6
        and (d.two_level or 0.0) >= DUTY_TWO_LEVEL
        and HIGH_SHARE[0] <= (d.high_share or 0.0) <= HIGH_SHARE[1]
    )


def _period(p: PeriodSignals) -> _Period:
    n = len(p.signals.devices)
    seconds = (p.end_ns - p.start_ns) / 1e9
    devices = tuple(_device(i, d, n, seconds) for i, d in enumerate(p.signals.devices))
    return _facts(p.start_ns, p.end_ns, devices, p.signals.node_power_w, None)


def _groups(active: Sequence[_Device]) -> tuple[frozenset[int], ...]:
    """The lockstep groups among ``active``: devices joined to the one they follow most
    closely (``peer``, at ``GROUP_SYNC`` or more), two or more to a group, in slot order."""
    slots = {d.slot for d in active}
    parent = {slot: slot for slot in slots}

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for d in active:
        if d.peer is not None and d.peer in slots:
            a, b = root(d.slot), root(d.peer)
            parent[max(a, b)] = min(a, b)
    members: dict[int, set[int]] = {}
    for slot in sorted(slots):
        members.setdefault(root(slot), set()).add(slot)
    return tuple(frozenset(m) for _, m in sorted(members.items()) if len(m) >= 2)


def _facts(
    start_ns: int,
    end_ns: int,
    devices: tuple[_Device, ...],
    node_power_w: float | None,
    within: frozenset[int] | None,
) -> _Period:
    """A period's facts over all its devices, or (``within``) over one lockstep group's alone:
    the view the training rules take of a job that runs beside other work on the node."""
    seen = devices if within is None else tuple(d for d in devices if d.slot in within)
    known = any(d.known for d in seen)
    active = tuple(d for d in seen if d.known and not d.quiet)
    quiet = known and all(d.known and d.quiet for d in seen)
    syncs = [d.sync for d in active if d.sync is not None]
    lockstep = len(active) >= 2 and len(syncs) >= 2 and _median(syncs) >= LOCKSTEP_SYNC
    groups: tuple[frozenset[int], ...] = ()
    if within is not None:
        # the group moves together in this period: each of its active devices follows another
        lockstep = lockstep or (len(active) >= 2 and all(d.peer in within for d in active))
    elif not lockstep:
        groups = _groups(active)
    powered = [d for d in active if d.has_power]
    stall = plateau = wait = False
    compute_level: float | None = None
    if powered:
        compute_level = _median([d.r_max for d in powered])
        shaped = [d for d in powered if d.two_level is not None and d.high_share is not None]
        if lockstep and len(shaped) * 2 > len(powered):
            stall = (
                _median([d.r_max - d.r_min for d in shaped]) >= SWING_MIN
                and _median([d.two_level or 0.0 for d in shaped]) >= TWO_LEVEL_MIN
                and compute_level >= COMPUTE_MIN
                # the compute phase is a level, not a one-sample spike: a request's prefill peak
                # sets ``max`` above the level the rest of the burst runs at (``_upper_level``)
                and _median([_upper_level(d) / d.r_max for d in shaped]) >= 1.0 - LEVEL_AGREE
                and (
                    _median([d.r_min for d in shaped]) <= STALL_MAX
                    or _median([d.min_of_board for d in shaped]) <= STALL_MAX_BOARD
                )
                and HIGH_SHARE[0] <= _median([d.high_share or 0.0 for d in shaped]) <= HIGH_SHARE[1]
            )
        plateau = (
            lockstep
            and _median([d.r_min for d in powered]) >= PLATEAU_MIN
            and _median([d.r_mean for d in powered]) >= PLATEAU_MEAN
        )
        busy = [d.busy for d in powered if d.busy is not None]
        wait = (
            lockstep
            and len(busy) * 2 > len(powered)
            and _median(busy) >= WAIT_BUSY
            and _median([d.r_mean for d in powered]) <= WAIT_MEAN
        )
    light = bool(active)
    blind = any(not d.has_power for d in active)
    powered_active = [d for d in active if d.has_power]
    # Steady within the period (``FLAT_CV``), or some device never near idle in it: a light load
    # with no gap between requests moves as a job does, not as requests do. Two TITAN X cards
    # training a small model with its checkpoint pauses filled (a public trace, 2025) ran at
    # 29-67 % of the limit, never lower, 45 % on average, 30 % busy, steady from minute to minute:
    # read from its second minute, it was inference, a false proof (2026-12-08)
    flat = bool(powered_active) and (
        all(d.cv < FLAT_CV for d in powered_active)
        or any(d.min_of_board > QUIET_BOARD_RATIO for d in powered_active)
    )
    duty = [_duty_like(d) for d in active if d.has_power]
    # One device on/off at a flat level is a duty-cycled job; among three or more independent
    # replicas a burst pattern that happens to look so on one of them is requests by chance.
    duty_cycled = sum(duty) * 2 > len(duty) if len(duty) >= 3 else any(duty)
    for d in active:
        if d.has_power:
            # a duty cycle hides between sparse samples: a light load needs a readable shape
            light = (
                light
                and d.shaped
                and d.r_mean <= LIGHT_MEAN + d.mean_slack
                # the counter's mean agrees with the samples' within their sampling error (a
                # job between the samples draws beyond it); an honest device sampled at 47 %
                # of its limit with 46 % on its counter is light as its samples are
                and (d.counter_r is None or d.counter_r <= min(LIGHT_MEAN, d.r_mean) + d.mean_slack)
                and (d.busy is None or d.busy <= LIGHT_BUSY + d.busy_slack)
            )
        else:
            light = (
                light
                and d.covered
                and d.busy is not None
                and d.busy <= LIGHT_BUSY_ONLY
                and (d.counter_r is None or d.counter_r <= LIGHT_MEAN)
            )
    light = light and not duty_cycled
    # devices that may exchange data (NVLink traffic, or none reported) following each other
    # beyond chance
    linked = [
        d
        for d in active
        if (d.link is None or d.link >= LINK_MIN_BPS)
        and d.samples > 3
        and (d.peer_sync or 0.0) >= max(LINKED_SYNC, LINKED_Z / math.sqrt(d.samples - 3))
    ]
    rhythms = [d.rhythm_s for d in active if d.rhythm_s is not None]
    rhythm_s = _median(rhythms) if lockstep and len(rhythms) * 2 >= len(active) else None
    # Steps repeating at one period on most active devices, in lockstep or not (pipeline stages
    # lag each other); read against the context (``_steps``), since request bursts on a few
    # devices agree on a lag now and then by chance.
    step_s = _median(rhythms) if active and _agree(rhythms, RHYTHM_AGREE) * 2 > len(active) else None
    non_ml = bool(active) and all(
        d.tensor is not None and d.tensor < NON_ML_TENSOR and (d.busy or 0.0) >= 0.5 for d in active
    )
    load = _median([d.r_mean if d.has_power else (d.busy or 0.0) for d in active]) if active else 0.0
    return _Period(
        start_ns,
        end_ns,
        devices,
        active,
        known,
        quiet,
        lockstep,
        stall,
        plateau,
        wait,
        rhythm_s,
        compute_level,
        light,
        blind,
        flat,
        load,
        non_ml,
        step_s,
        node_power_w,
        groups,
        all(d.covered for d in seen),
        len(linked) >= 2,
        any(d.link is not None and d.link >= LINK_MIN_BPS for d in active),
    )


def _at_level(x: float | None, level: float, tolerance: float = LEVEL_AGREE) -> bool:
    """``x`` is a compute level within ±``tolerance`` (relative) of the job's ``level``."""
    return x is not None and abs(x - level) <= tolerance * level


def _steady(levels: Sequence[float]) -> bool:
    """The job's ``levels`` vary by at most ``LEVEL_STEADY_CV`` (coefficient of variation), two
    at least, leaving out a lull's periods: those under half the median level (a trickle of
    requests, a wait spinning at idle power; a stall's period reads its compute part's level).
    Not "at or above ``COMPUTE_MIN``": a server's periods of lighter traffic fall under it, and
    its busiest periods alone can be as flat as a loop (at drains every 2 minutes, twice as many
    contexts read steady)."""
    if len(levels) < 2:
        return False
    median = _median(levels)
    computing = [x for x in levels if x >= 0.5 * median]
    if len(computing) < 2:
        return False
    mean = math.fsum(computing) / len(computing)
    return statistics.pstdev(computing) <= LEVEL_STEADY_CV * mean


def _agree(values: Sequence[float], tolerance: float) -> int:
    """How many of ``values`` lie within ±``tolerance`` (relative) of their median."""
    if not values:
        return 0
    m = _median(values)
    return sum(1 for v in values if abs(v - m) <= tolerance * m)


class _Evidence(NamedTuple):
    training: bool
    strength: float  # 0 … 1: how far past the threshold (score and confidence)
    partial: float  # 0 … 1: training-like evidence short of the threshold
    reason: str
    rhythm: bool = False  # a lockstep step rhythm was part of it
    # the old, one-event signature (a stall with a step rhythm) short of the two events: a group
    # showing it is no proof for its node either (``_group_training``)
    one_event: bool = False


def _memory_of(period: _Period, index: int) -> float | None:
    return period.devices[index].memory if index < len(period.devices) else None


def _job_segment(context: Sequence[_Period], devices: Sequence[int]) -> tuple[int, bool | None]:
    """Where the current memory footprint of ``devices`` began in ``context``, and whether it is
    resident (``None``: no memory reported; the segment is then the whole context).

    The footprint is each device's memory in the last period that reports it; the segment is
    the longest suffix of the context over which every device stays within ±``MEMORY_STABLE``.
    """
    last: dict[int, float] = {}
    for q in reversed(context):
        for i in devices:
            m = _memory_of(q, i)
            if i not in last and m is not None:
                last[i] = m
        if len(last) == len(devices):
            break
    if not last:
        return 0, None
    resident = all(m >= MEMORY_MIN_BYTES for m in last.values())
    start = len(context)
    for k in range(len(context) - 1, -1, -1):
        q = context[k]
        if any(
            (m := _memory_of(q, i)) is not None and abs(m - ref) > MEMORY_STABLE * ref
            for i, ref in last.items()
        ):
            break
        start = k
    return start, resident


def _unlinked(period: _Period) -> bool:
    """Every active device reports its NVLink traffic and none moves ``LINK_MIN_BPS``."""
    return bool(period.active) and all(d.link is not None and d.link < LINK_MIN_BPS for d in period.active)


def _low(q: _Period) -> bool:
    """A period a lull goes on through: a stall, a collective wait, quiet, nothing reported, or
    no device at the compute level (a trickle of requests, a model reloading)."""
    return (
        q.stall
        or q.wait
        or q.quiet
        or not q.known
        or (q.compute_level is not None and q.compute_level < COMPUTE_MIN)
    )


def _stall_events(
    periods: Sequence[_Period], levels_at: float | None = None, *, waits: bool = False
) -> list[int]:
    """The stalls the job resumed from (and, ``waits``, its collective waits), as events: the
    index of the period that counts each.

    A stall counts once a later lockstep period runs at its compute level (±``LEVEL_AGREE``; a
    job that stops, or a server whose load ends, never resumes). ``levels_at``: only stalls
    whose compute level agrees with it. Periods that are all low (``_low``), with gaps between
    them under ``CARRY_GAP_S`` (a lost report), are one episode: one lull across a period
    boundary ends one period low and starts the next low (and a longer one, with a request
    batch in its middle period, stalls in a third) — one event — while a job that stalls every
    minute shows one more stall each period. An episode of s stalls (and waits) is max(1,
    s' − 1, s − 2) events, s' those that computed ``EPISODE_SHARE`` of their period at least
    or waited. A period that both stalls and waits is one."""
    resumed = set()
    for k, q in enumerate(periods):
        if waits and q.wait:
            resumed.add(k)
        if not q.stall or q.compute_level is None:
            continue
        level = q.compute_level
        if levels_at is not None and not _at_level(level, levels_at):
            continue
        if any(r.lockstep and _at_level(r.compute_level, level) for r in periods[k + 1 :]):
            resumed.add(k)
    gap_ns = round(CARRY_GAP_S * 1e9)
    events: list[int] = []
    run: list[int] = []

    def close() -> None:
        # one event, one more for each further stall that mostly computed (a job stalling every
        # minute), and at least one fewer than its stalls beyond the two that end it (a job
        # computing a fifth of every minute): one request batch in a lull's middle is not two
        strong = [k for k in run if periods[k].wait or (_compute_share(periods[k]) or 0.0) >= EPISODE_SHARE]
        if len(strong) - 1 >= max(len(run) - 2, 1):
            events.extend(strong[1:])
        else:
            events.extend(run[2:] or run[:1])

    for k, q in enumerate(periods):
        goes_on = k > 0 and _low(q) and _low(periods[k - 1]) and q.start_ns - periods[k - 1].end_ns <= gap_ns
        if not goes_on:
            close()
            run = []
        if k in resumed:
            run.append(k)
    close()
    return events


def _compute_share(q: _Period) -> float | None:
    """The median share of the period its active devices spent at their upper level."""
    shares = [d.high_share for d in q.active if d.has_power and d.high_share is not None]
    return _median(shares) if shares else None


def _after_start(periods: Sequence[_Period]) -> Sequence[_Period]:
    """A job's ``periods`` (from the one its footprint appeared in, or the oldest read) after
    its start: after the last silence over ``CARRY_GAP_S``, the first period is the start
    (where the footprint appeared, or the job came back — not one of its stalls), and where it
    sat quiet the start goes on until the job first computes, that period too where it went
    from low to compute (a server's weights loaded a minute before its first requests)."""
    gap_ns = round(CARRY_GAP_S * 1e9)
    lo = 0
    for k in range(len(periods) - 1, 0, -1):
        if periods[k].start_ns - periods[k - 1].end_ns > gap_ns:
            lo = k
            break
    if lo >= len(periods):
        return ()
    lo += 1
    if not _computes(periods[lo - 1]):
        while lo < len(periods) and not _computes(periods[lo]):
            lo += 1
        if lo < len(periods) and periods[lo].stall:
            lo += 1
    return periods[lo:]


def _computes(q: _Period) -> bool:
    return q.known and not q.quiet


def _job_history(
    earlier: Sequence[_Period], context: Sequence[_Period], devices: Sequence[int], level: float
) -> tuple[list[_Period], int]:
    """The periods of one job at one level, over ``earlier`` and ``context`` together, and how
    many of them lie before the context. One job: its devices keep their resident footprint
    (±``MEMORY_STABLE``) with no silence over ``CARRY_GAP_S``; at one level: every period is
    low (``_low``) or computes at ``level`` (±``HISTORY_LEVEL_AGREE``; in lockstep or not: flat
    compute reads a low synchrony), as a training loop computes between its checkpoints — a
    server follows its traffic, and a lull an hour after another, with other loads between, is
    no second checkpoint of one job. From the job's start on (``_after_start``: after the last
    silence, never the start itself). Empty without a resident footprint."""
    joined = [*earlier, *context]
    start, resident = _job_segment(joined, devices)
    if resident is not True:
        return [], 0
    for k in range(len(joined) - 1, start, -1):
        q = joined[k]
        if not (_low(q) or _at_level(q.compute_level, level, HISTORY_LEVEL_AGREE)):
            start = k
            break
    lo = len(joined) - len(_after_start(joined[start:]))
    return joined[lo:], max(0, len(earlier) - lo)


def _training(
    context: Sequence[_Period], current: _Period, earlier: Callable[[], Sequence[_Period]] = tuple
) -> _Evidence:
    """Training evidence for ``current`` (the last item) from its causal context, and from the
    stalls its job showed before it (``earlier()``, read only where the context shows one:
    ``_job_history``)."""
    lockstep = [q for q in context if q.lockstep]
    job_devices = sorted({d.slot for q in lockstep for d in q.active})
    if len(job_devices) < 2:
        return _Evidence(False, 0.0, 0.0, "")
    if all(_unlinked(q) for q in lockstep):
        # moving together without exchanging anything: a shared driver (a scheduler gating
        # independent replicas), not ranks waiting for each other at an all-reduce
        return _Evidence(False, 0.0, 0.3, "lockstep devices that exchange nothing over NVLink")
    start, resident = _job_segment(context, job_devices)
    segment = context[start:]
    if resident is False or not segment:
        return _Evidence(False, 0.0, 0.2, "lockstep devices without a resident memory footprint")
    # The period in which the footprint appeared is the job's start-up, not one of its stalls;
    # nor is the oldest period of the context, which may be it (its previous period is not read).
    counted = _after_start(segment)
    job = [q for q in segment if q.lockstep]
    # Stall/compute alternation. A stall inside a period counts once the job has resumed after it
    # at the same compute level (a job that stops, or a server whose load ends, never resumes).
    stalls = len(_stall_events(counted))
    # Or whole periods of sustained compute and whole quiet periods that keep the footprint,
    # switching back and forth (a job paused period by period): ``SWITCHES`` switches at least.
    switched = 0
    if resident:
        switches = sum(
            1 for a, b in itertools.pairwise(counted) if (a.plateau and b.quiet) or (a.quiet and b.plateau)
        )
        if switches >= SWITCHES:
            switched = switches
    alternations = stalls + switched
    levels = [q.compute_level for q in job if q.compute_level is not None]
    level_agree = len(levels) >= 2 and _agree(levels, LEVEL_AGREE) * 4 >= len(levels) * 3
    before = 0
    if resident and level_agree and 0 < alternations < EVENTS:
        # the same job's stalls before the context, counted in one pass with the context's (an
        # episode across the context's start is one event, whichever side holds it) at the
        # job's level; one of them at least in the context (the evidence is fresh)
        level = _median(levels)
        history, n_earlier = _job_history(earlier(), context, job_devices, level)
        if n_earlier:
            found = _stall_events(history, level)
            now = sum(1 for k in found if k >= n_earlier)
            if now:
                before = len(found) - now
                alternations = len(found) + switched
    rhythms = [q.rhythm_s for q in job if q.rhythm_s is not None]
    waits = sum(1 for q in job if q.wait)
    # Each needs two structural events at least (``EVENTS``): one dip in a lockstep server that
    # resumes at its level looks exactly like one checkpoint stall, and it would label every
    # period of the context (and the carry after it) at once — correlated labels the window
    # test reads as independent ones. A period that both stalls and waits is one event.
    events = len(_stall_events(counted, waits=True)) + before
    rhythm = _agree(rhythms, RHYTHM_AGREE) >= RHYTHM_PERIODS and events >= EVENTS
    by_alternation = alternations >= EVENTS and len(job) >= 2 and level_agree and _steady(levels)
    # The current period belongs to the job: lockstep itself, or a pause that keeps its footprint.
    in_job = current.lockstep or (resident is True and current is segment[-1] and bool(job))
    reasons = []
    if by_alternation:
        also = f", {before} more by the same job before them" if before else ""
        seen = alternations - before
        reasons.append(f"lockstep stall/compute alternation ({seen}x in {len(job)} periods{also})")
    if rhythm:
        reasons.append(f"lockstep step rhythm ~{_median(rhythms):.0f} s in {len(rhythms)} periods")
    if waits:
        reasons.append(f"collective waits in {waits} periods")
    if resident:
        reasons.append(f"memory footprint steady for {len(segment)} periods")
    if (by_alternation or rhythm) and in_job:
        strength = min(
            1.0, 0.25 * alternations + 0.1 * len(rhythms) + 0.1 * waits + (0.25 if resident else 0.0)
        )
        return _Evidence(True, strength, 1.0, "; ".join(reasons), rhythm)
    partial = min(1.0, 0.15 + 0.1 * len(job) + 0.2 * alternations + 0.1 * (len(rhythms) + waits))
    return _Evidence(
        False,
        0.0,
        partial,
        "lockstep devices, no training structure (yet)",
        one_event=_agree(rhythms, RHYTHM_AGREE) >= RHYTHM_PERIODS and events >= 1 and in_job,
    )


def _follows_requests(context: Sequence[_Period]) -> bool:
    """The load changes from period to period, as requests come and go (a duty-cycled job keeps
    one level): ``LOAD_VARIATION`` or more over at least ``LOAD_PERIODS`` periods, each of them
    busy after a busy period. A period after a quiet or unknown one (the oldest of the context
    among them) holds a start (a quiet half-minute, then the load) and says nothing of requests:
    one GPU of a small training job, its pauses filled, steady at 45 % of its limit from minute
    to minute, followed requests by its first minute's ramp and was inference in its third (a
    public TITAN X trace, 2025; 2026-12-08)."""
    loads = [
        q.load
        for before, q in itertools.pairwise(context)
        if q.known and not q.quiet and before.known and not before.quiet
    ]
    if len(loads) < LOAD_PERIODS:
        return False
    mean = math.fsum(loads) / len(loads)
    if mean <= 0.0:
        return False
    deviation = math.sqrt(math.fsum((x - mean) ** 2 for x in loads) / len(loads))
    return deviation / mean >= LOAD_VARIATION


def _steps(context: Sequence[_Period]) -> bool:
    """The node's devices repeated at one step period (±``RHYTHM_AGREE``; most active devices,
    in lockstep or not: pipeline stages lag each other) in at least ``RHYTHM_PERIODS`` periods
    of the context (every period of a shorter one: a node's first minutes are no proof either):
    an optimiser loop, not requests, which do not repeat at one lag. The current period need
    not show the rhythm itself: steps of uneven length (0.8-1.2x the last) blur it in some
    periods, and the loop has not turned into requests there. Steps agree within one lag of
    the sampling more than that (``STEP_QUANTUM_S``), and a load in its first periods after
    quiet ones is held to any step in them (below)."""
    steps = [q.step_s for q in context if q.step_s is not None]
    need = min(RHYTHM_PERIODS, len(context))
    if any(
        sum(1 for other in steps if abs(other - step) <= RHYTHM_AGREE * step + STEP_QUANTUM_S) >= need
        for step in steps
    ):
        return True
    # A load in its first RHYTHM_PERIODS periods after the one it started in (the time the rule
    # above needs to speak) is no proof where any of them repeats at one step: a light training
    # run read as requests until its third rhythm period (16-s and 18-s steps, read in turn)
    run = 0
    for q in reversed(context):
        if q.quiet or not q.known:
            break
        run += 1
    if run == len(context) or run > RHYTHM_PERIODS + 1:
        return False
    young = context[-run:]
    if any(q.step_s is not None and len(q.active) >= 2 for q in young):
        return True
    # One device's requests show a step by chance in a period of nine, and a server resuming
    # after each quiet minute would pay every time: one device is held to it only in a job's
    # first minutes, where its footprint is new (a model's size more than it held at its
    # lowest before the load began, in the context)
    first, earlier = young[0], context[:-run]
    new = False
    for d in first.devices:
        m = d.memory
        lows = [x for q in earlier if (x := _memory_of(q, d.slot)) is not None]
        if m is not None and lows and m - min(lows) >= MEMORY_MIN_BYTES:
            new = True
            break
    return new and any(q.step_s is not None for q in young)


def _counter_disagrees(context: Sequence[_Period]) -> bool:
    """Some device of the current period drew more than its samples allow, by its energy
    counter (``_Device.counter_excess``). The counter's first interval reaches back to the last
    sample of the period before: where the device was busy in that period (adjacent in time),
    one sample interval at that period's max power is allowed for it (a node sampled every 4 s
    that stops serving carries 4 s of serving into its first quiet minute); after a quiet
    period, nothing. The interval is taken as at most a ``LIGHT_MIN_SAMPLES``-th of the period,
    as the sampling slack is: a report of one sample a minute would otherwise carry a whole
    minute of work past its counter after each busy one."""
    current = context[-1]
    before = context[-2] if len(context) >= 2 and context[-2].end_ns == current.start_ns else None
    for d in current.devices:
        if d.counter_excess <= 0.0:
            continue
        allowance = 0.0
        if before is not None and d.slot < len(before.devices):
            b = before.devices[d.slot]
            if b.known and not b.quiet and b.has_power:
                allowance = b.r_max / max(d.samples, LIGHT_MIN_SAMPLES)
        if d.counter_excess > allowance:
            return True
    return False


def _loading(context: Sequence[_Period]) -> str | None:
    """Why the current period is a job's or a server's start-up, or None.

    A device whose power stays in the idle band (``no_compute``) holds memory that grew by
    ``LOADING_BPS`` or more since its last reading in the context: a model being loaded, for
    serving or for training alike. Without an earlier reading a footprint of a model's size
    (``MEMORY_MIN_BYTES``; not a CUDA context or a display server's few hundred MiB) counts as
    grown from nothing over the period: it may have just been loaded. A device that computes
    and holds a model's size more than at its last reading, where it held less than a model's
    size then, loaded and started within the period (a run's first light minute on two of the
    real 8×H100 run's GPUs read as requests); without an earlier reading a computing device's
    footprint says nothing, and a footprint that was a model's already and grows (a cache, a
    pool, the tail of a load seen in the minute before) is no start-up. The footprint is
    each period's maximum, so a load inside one period shows against the period before. Where
    no power is reported this is never read: a utilisation-only pod's memory churns as it
    serves (the Alibaba pods), and nothing there says it computes nothing."""
    current = context[-1]
    for d in current.devices:
        if d.memory is None or not d.has_power:
            continue
        before: float | None = None
        since = current.start_ns
        for q in reversed(context[:-1]):
            if (m := _memory_of(q, d.slot)) is not None:
                before, since = m, q.end_ns
                break
        if not d.no_compute:
            # Computing: a model's worth of memory where there was none at a reading before it (a
            # job or a server that loaded and started in the same minute). No earlier reading says
            # nothing; nor does a footprint that grows (a cache or a pool, a load that began in
            # the minute before and read as loading there: one start-up, not two).
            if before is not None and before < MEMORY_MIN_BYTES <= d.memory - before:
                return STARTING_REASON
            continue
        if before is None and d.memory < MEMORY_MIN_BYTES:
            continue
        seconds = (current.end_ns - since) / 1e9
        if seconds > 0.0 and d.memory - (before or 0.0) >= LOADING_BPS * seconds:
            return LOADING_REASON
    return None


def _paused_job(context: Sequence[_Period]) -> float | None:
    """A job paused with its memory resident (a blocking checkpoint, a data wait), not an idle
    node: minutes since the node's last period of heavy compute (powered active devices at a
    median mean beyond ``LIGHT_MEAN`` of the limit) or of a light load repeating at one step
    (``_steps``: an optimiser loop, not requests), where that work ended at most
    ``CARRY_GAP_S`` before the current period's end, no request-sized load (``light``) came
    since, and every device that held memory in it still holds it (±``MEMORY_STABLE``). None
    otherwise: a node that releases the memory, serves requests, or stays quiet longer (the
    carry's continuity bound) is what it looks like. A busy period neither light nor heavy
    (the one the work stopped in) is looked past."""
    current = context[-1]
    gap_ns = round(CARRY_GAP_S * 1e9)
    for k in range(len(context) - 2, -1, -1):
        q = context[k]
        if current.end_ns - q.end_ns > gap_ns:
            return None
        if q.quiet or not q.known:
            continue
        powered = [d.r_mean for d in q.active if d.has_power]
        if q.light:
            if not _steps(context[: k + 1]):
                return None  # requests since: a server between them, not a paused job
            # a light load repeating at one step: an optimiser loop, work like heavy compute
        elif not powered or _median(powered) <= LIGHT_MEAN:
            continue
        held = [(d.slot, d.memory) for d in q.active if d.memory is not None and d.memory >= MEMORY_MIN_BYTES]
        kept = [
            abs(m - ref) <= MEMORY_STABLE * ref
            for slot, ref in held
            if (m := _memory_of(current, slot)) is not None
        ]
        return (current.end_ns - q.end_ns) / 60e9 if kept and all(kept) else None
    return None


def _training_class(strength: float, active: int, reason: str) -> PeriodClass:
    """``training`` with a score that grows with the evidence past the threshold."""
    score = TRAINING_EVIDENCE + (1.0 - TRAINING_EVIDENCE) * strength
    return PeriodClass(
        WorkloadLabel.TRAINING, score, score, active, types_pb2.WORKLOAD_CLASS_TRAINING, reason
    )


_UNPROVEN_SCORE: Final = PROOF_MAX_SCORE + (TRAINING_EVIDENCE - PROOF_MAX_SCORE) * 0.5


def _unproven(reason: str, *, startup: Startup = "", sparse: bool = False) -> PeriodClass:
    """``uncertain`` with no device active (nothing reported, or every device quiet): a period
    that proves nothing, halfway between proof and training evidence."""
    return PeriodClass(
        WorkloadLabel.UNCERTAIN,
        _UNPROVEN_SCORE,
        0.5,
        0,
        types_pb2.WORKLOAD_CLASS_INFERENCE,
        reason,
        startup=startup,
        sparse=sparse,
    )


def _classify(context: Sequence[_Period], earlier: Callable[[], Sequence[_Period]] = tuple) -> PeriodClass:
    current = context[-1]
    active = len(current.active)
    evidence = _training(context, current, earlier)
    # A load without tensor-pipe work, where the source reports it, is no evidence of training
    # whatever its shape (a stress test cycling in lockstep): ``other``, never proof.
    if evidence.training and not current.non_ml:
        return _training_class(evidence.strength, active, evidence.reason)
    if not current.known:
        reason = "no accelerator power or utilisation reported"
        if current.node_power_w is not None:
            reason = "node power only: it can neither prove idle nor tell training from other sustained work"
        return _unproven(reason)
    training_like = evidence.partial > 0.0
    loading = _loading(context)
    if current.quiet:
        if training_like:
            return _unproven("quiet, within a lockstep job's context")
        paused = _paused_job(context)
        if paused is not None:
            return _unproven(
                f"quiet {paused:.0f} min after heavy work, its memory still resident: a paused job,"
                " not an idle node"
            )
        if loading is not None:  # every device quiet: a model loading (LOADING_REASON)
            return _unproven(loading, startup="load")
        if not current.covered:
            return _unproven(SPARSE_REASON, sparse=True)
        if _counter_disagrees(context):
            return _unproven(COUNTER_REASON)
        return PeriodClass(
            WorkloadLabel.IDLE, 0.05, 0.95, 0, types_pb2.WORKLOAD_CLASS_IDLE, "every device quiet"
        )
    if current.non_ml:
        return PeriodClass(
            WorkloadLabel.OTHER,
            0.4,
            0.7,
            active,
            types_pb2.WORKLOAD_CLASS_INFERENCE,
            "busy without tensor-pipe work",
        )
    # A light load counts as requests when it moves as requests do: within the period (power
    # reported and not flat) or from period to period (utilisation alone, or flat power: a
    # steady light job is not request-driven serving).
    needs_requests = current.blind or current.flat
    steps = _steps(context)
    if (
        current.light
        and not _linked_bursts(context)
        and not current.exchanging
        and not training_like
        and (not needs_requests or _follows_requests(context))
        and not steps
        and loading is None
    ):
        return PeriodClass(
            WorkloadLabel.INFERENCE,
            0.2,
            0.8,
            active,
            types_pb2.WORKLOAD_CLASS_INFERENCE,
            "light, request-sized load",
        )
    score = PROOF_MAX_SCORE + 0.01 + (TRAINING_EVIDENCE - PROOF_MAX_SCORE - 0.02) * evidence.partial
    reason = evidence.reason or (
        "busy beyond a request-sized load: nothing tells what"
        if not current.light
        else "light load repeating at one step period, as an optimiser loop does"
        if steps
        else EXCHANGING_REASON
        if current.exchanging
        else loading
        if loading is not None
        else "light load"
    )
    return PeriodClass(
        WorkloadLabel.UNCERTAIN,
        score,
        0.5,
        active,
        types_pb2.WORKLOAD_CLASS_INFERENCE,
        reason,
        # the minute a job or a server started; a model loading beside other work is not one
        # (the node computes more than a start-up there)
        startup="start" if reason == STARTING_REASON else "",
    )


def _linked_bursts(context: Sequence[_Period]) -> bool:
    """The period, and another of its context, show devices that may exchange data following
    each other beyond chance (``_Period.linked``): one job's bursts, again and again, not
    requests. All eight GPUs of a node training 10-16 s a minute in lockstep, serving the rest,
    read light with no duty cycle and were inference, COMPLIANT (a red team, 2026-12-06). One
    such period in the context (``CONTEXT_S``) — every server of a node starting, or a surge
    reaching them all at once — is requests."""
    return context[-1].linked and any(q.linked for q in context[:-1])


def _group_view(periods: Callable[[], Sequence[_Period]], slots: frozenset[int]) -> list[_Period]:
    return [_within(q, slots) for q in periods()]


def _group_training(
    context: Sequence[_Period], cls: PeriodClass, earlier: Callable[[], Sequence[_Period]] = tuple
) -> tuple[PeriodClass, _Period, bool] | None:
    """Training evidence of a lockstep group that runs beside other work on the node (each
    group of the current period judged alone, over the context as its devices see it): the
    class and the group's view of the period, or None. A group needs its step rhythm as well as
    the signature; the class, the group's view of the period and True then. A group short of
    it changes nothing (independent servers correlate in pairs now and then) — but one that
    shows its step rhythm with one stall or wait, the signature of before ``EVENTS``, takes its
    node's proof (``_no_proof``; False: the group is held, not a training job)."""
    for slots in context[-1].groups:
        seen = [_within(q, slots) for q in context]
        evidence = _training(seen, seen[-1], functools.partial(_group_view, earlier, slots))
        # a group is held to more than a node: its step rhythm too (a small bursty server's
        # bursts at one level look like a job's stalls; its requests do not repeat at one lag),
        # and, as a node, tensor-pipe work where the source reports it
        if evidence.training and evidence.rhythm and not seen[-1].non_ml:
            devices = ", ".join(str(slot) for slot in sorted(slots))
            reason = f"devices {devices} in lockstep beside other work: {evidence.reason}"
            return _training_class(evidence.strength, cls.active_devices, reason), seen[-1], True
        if evidence.one_event and not seen[-1].non_ml:
            devices = ", ".join(str(slot) for slot in sorted(slots))
            why = f"{devices} in lockstep beside other work, repeating at one step with a stall or wait"
            return _no_proof(cls, why), seen[-1], False
    return None


def _no_proof(cls: PeriodClass, why: str) -> PeriodClass:
    """``cls``, but ``uncertain`` where it proved idle or inference: a lockstep group beside
    other work showed the one-event signature (``_group_training``) or goes on as the group that
    showed it (the held job, ``classify_node_history``)."""
    if cls.label not in (WorkloadLabel.IDLE, WorkloadLabel.INFERENCE):
        return cls
    return cls._replace(
        label=WorkloadLabel.UNCERTAIN,
        training_score=PROOF_MAX_SCORE + 0.01,
        confidence=0.5,
        workload=types_pb2.WORKLOAD_CLASS_INFERENCE,
        reason=f"devices {why}: training-like, short of its signature, no proof",
    )


class _Job(NamedTuple):
    """A lockstep job that showed training structure: where, how big, how hard it ran."""

    end_ns: int  # end of the last period with training evidence
    footprint: tuple[tuple[int, float | None], ...]  # (device slot, memory bytes or None) of its devices
    level: float  # its compute level (median max power, share of the limit)


def _job_of(period: _Period) -> _Job | None:
    """The job a period with training evidence belongs to; None without a resident footprint
    or a compute level (the footprint is the job's identity: no memory, no carrying)."""
    slots = {d.slot for d in period.active} if period.lockstep else set()
    footprint = tuple(
        (d.slot, d.memory)
        for d in period.devices
        if (not slots or d.slot in slots) and d.memory is not None and d.memory >= MEMORY_MIN_BYTES
    )
    if len(footprint) < 2 or period.compute_level is None:
        return None
    return _Job(period.end_ns, footprint, period.compute_level)


def _unreported_job(period: _Period) -> _Job | None:
    """The job a lockstep period with training evidence belongs to where none of its devices
    reports memory (a log without ``memory.used``, a board that writes ``[N/A]``): its devices
    and level, with no footprint. It anchors hindsight only (``_hindsight``), never the carry:
    the carry makes evidence, and with no footprint a server started at the same level on the
    same devices would be carried as the job. Hindsight stays inside a bucket that the job's
    own evidence already classes; it adds to the count of the job's minutes, not to a verdict's
    status."""
    if not period.lockstep or period.compute_level is None:
        return None
    active = list(period.active)
    if len(active) < 2 or any(d.memory is not None for d in active):
        return None
    return _Job(period.end_ns, tuple((d.slot, None) for d in active), period.compute_level)


def _keeps_footprint(job: _Job, period: _Period) -> bool:
    """Every device of the job still holds its memory (±``MEMORY_STABLE``), as far as reported;
    a job with no footprint (``_unreported_job``): none of its devices reports memory still."""
    seen = 0
    for slot, ref in job.footprint:
        m = _memory_of(period, slot)
        if ref is None:
            if m is not None:
                return False
            seen += 1
            continue
        if m is None:
            continue
        if abs(m - ref) > MEMORY_STABLE * ref:
            return False
        seen += 1
    return seen > 0


def _going_on(job: _Job | None, period: _Period, silent: bool) -> _Job | None:
    """``job`` where it may go on into ``period``: within ``JOB_CARRY_S`` of its last evidence,
    after no silence over ``CARRY_GAP_S`` (``silent``), its footprint kept; else None."""
    if job is None or silent or period.end_ns - job.end_ns > round(JOB_CARRY_S * 1e9):
        return None
    return job if _keeps_footprint(job, period) else None


def _within(period: _Period, slots: frozenset[int]) -> _Period:
    """``period`` as the devices ``slots`` alone see it."""
    return _facts(period.start_ns, period.end_ns, period.devices, period.node_power_w, slots)


def _drained(context: Sequence[_Period]) -> bool:
    """The context shows stalls resumed from (``EVENTS`` at least) at compute levels that are
    not steady (``_steady``): what a server drained on a schedule shows, not a loop's
    checkpoints. A job read afresh there and found no loop is not carried into the period (a
    server found steady for one context carried its class through the rest of the hour)."""
    levels = [q.compute_level for q in context if q.lockstep and q.compute_level is not None]
    return len(_stall_events(_after_start(context))) >= EVENTS and not _steady(levels)


def _continues(job: _Job, period: _Period, tolerance: float = LEVEL_AGREE) -> bool:
    """``period`` is the job at work: its devices in lockstep at the job's compute level
    (±``tolerance``; the job's devices alone, where other work runs beside it). The carry,
    which makes evidence, holds a job to ``CARRY_LEVEL_AGREE``; hindsight and a held group,
    which do not, to ``LEVEL_AGREE``."""
    slots = frozenset(slot for slot, _ in job.footprint)
    if not period.lockstep and any(slots <= g for g in period.groups):
        period = _within(period, slots)
    mine = [d for d in period.active if d.slot in slots]
    # flat compute (a power cap, a noisy sensor): correlation of flat noise says nothing, so the
    # job's devices all computing steadily at its level count as the job at work too
    flat = len(mine) == len(slots) and all(d.has_power and d.cv < FLAT_CV for d in mine)
    return (
        (period.lockstep or flat)
        and len(mine) >= 2
        and _at_level(period.compute_level, job.level, tolerance)
    )


def classify_node_history(
    periods: Sequence[PeriodSignals], *, bucket: Callable[[int], int | None] | None = None
) -> tuple[PeriodClass, ...]:
    """One class per period, in the same order, each from its causal history.

    ``periods`` are one node's, in time order (gaps allowed). Training *evidence* for period p
    comes from the periods whose end lies in (p.end_ns − ``CONTEXT_S``, p.end_ns]. A job that
    showed it keeps the training class while it goes on (**job carry**): for ``JOB_CARRY_S``
    after its last evidence, a period of the same lockstep devices at the same compute level,
    with the same resident memory footprint throughout and no silence over ``CARRY_GAP_S``, is
    training too — a run that checkpoints every half hour does not turn ``uncertain`` ten
    minutes after each checkpoint. So the class of p depends only on the periods ending in
    (p.end_ns − ``HISTORY_S``, p.end_ns]: a later report never changes an earlier class, and a
    caller that hands over that much history before its first period gets the classes of the
    whole history. Deterministic: no dict-order dependence, ``math.fsum`` for sums.

    ``bucket`` (a period's end → the verdict bucket that labels it, None where no verdict being
    made does) gives the classes as a verdict issued at its bucket's end sees them
    (**hindsight**): an ``uncertain`` period of a job that shows training structure later in
    the same bucket is ``training`` too (``PeriodClass.hindsight``), walking back from the
    job's first evidence while the same devices compute in lockstep at its level with its
    footprint (as the carry, ``_continues`` and ``_keeps_footprint``; where its devices report
    no memory, with none reported throughout: ``_unreported_job``), no silence over
    ``CARRY_GAP_S`` and at most ``JOB_CARRY_S`` back. A job's structure shows minutes after it
    starts (its second checkpoint stall, three periods of rhythm); by the bucket's end those
    minutes are known to be the job's. Only ``uncertain`` becomes ``training``: a period that
    proved something keeps its class, and a verdict already issued is never revised.
    """
    context_ns = round(CONTEXT_S * 1e9)
    earlier_ns = round((CONTEXT_S + EARLIER_S) * 1e9)
    gap_ns = round(CARRY_GAP_S * 1e9)
    reduced: list[_Period] = []
    out: list[PeriodClass] = []
    first = oldest = 0
    last_end: int | None = None
    job: _Job | None = None
    held: _Job | None = None  # a group that showed the one-event signature: no proof while it goes on
    anchors: list[_Job | None] = []  # the job each period with training evidence shows
    for p in periods:
        if last_end is not None and p.end_ns < last_end:
            raise ValueError("periods must be in time order")
        current = _period(p)
        silent = last_end is not None and current.start_ns - last_end > gap_ns
        job, held = _going_on(job, current, silent), _going_on(held, current, silent)
        last_end = p.end_ns
        reduced.append(current)
        while reduced[first].end_ns <= p.end_ns - context_ns:
            first += 1
        while reduced[oldest].end_ns <= p.end_ns - earlier_ns:
            oldest += 1
        earlier = functools.partial(operator.getitem, reduced, slice(oldest, first))
        cls = _classify(reduced[first:], earlier)
        anchor: _Job | None = None
        if cls.label == WorkloadLabel.TRAINING:
            anchor = _job_of(current)
            job = anchor or job
            anchor = anchor or _unreported_job(current)
        elif (found := _group_training(reduced[first:], cls, earlier)) is not None and found[2]:
            cls, group, _ = found
            anchor = _job_of(group)
            job = anchor or job
        elif (
            job is not None
            and _continues(job, current, CARRY_LEVEL_AGREE)
            and not _drained(reduced[first:])
        ):
            minutes = (current.end_ns - job.end_ns) / 60e9
            cls = _training_class(
                0.0,
                cls.active_devices,
                f"the lockstep job that showed training structure {minutes:.0f} min ago, going on"
                " (same devices, memory footprint and compute level)",
            )
        elif found is not None:  # a group's one event takes the node's proof (``_group_training``)
            cls = found[0]
            held = _job_of(found[1]) or held
        elif held is not None and _continues(held, current):
            cls = _no_proof(cls, "of a lockstep group that showed one stall or wait at its step, going on")
        out.append(cls)
        anchors.append(anchor)
    if bucket is not None:
        _hindsight(reduced, out, anchors, bucket)
    return tuple(out)


def _hindsight(
    reduced: Sequence[_Period],
    out: list[PeriodClass],
    anchors: Sequence[_Job | None],
    bucket: Callable[[int], int | None],
) -> None:
    """Mark in ``out`` the ``uncertain`` periods before each job's evidence in its bucket that
    were that job at work (``classify_node_history``, hindsight)."""
    carry_ns = round(JOB_CARRY_S * 1e9)
    gap_ns = round(CARRY_GAP_S * 1e9)
    job: _Job | None = None
    key: int | None = None
    evidence_ns = after_ns = 0
    for i in range(len(reduced) - 1, -1, -1):
        p = reduced[i]
        if (anchor := anchors[i]) is not None:
            job, key, evidence_ns, after_ns = anchor, bucket(p.end_ns), p.start_ns, p.start_ns
            continue
        if job is None:
            continue
        if (
            key is not None
            and out[i].label == WorkloadLabel.UNCERTAIN
            and bucket(p.end_ns) == key
            and after_ns - p.end_ns <= gap_ns
            and evidence_ns - p.end_ns <= carry_ns
            and _keeps_footprint(job, p)
            and _continues(job, p)
        ):
            minutes = (evidence_ns - p.start_ns) / 60e9
            same = (
                "same devices and compute level, no memory reported"
                if any(ref is None for _, ref in job.footprint)
                else "same devices, memory footprint and compute level"
            )
            out[i] = _training_class(
                0.0,
                out[i].active_devices,
                f"in hindsight: the lockstep job that showed training structure {minutes:.0f} min later"
                f" in this bucket, already at work ({same})",
            )._replace(hindsight=True)
            after_ns = p.start_ns
        else:
            job = None


def accelerator_values(acc: types_pb2.AcceleratorUsage) -> dict[str, Any]:
    """The fields an accelerator's source gave (absent optional fields are left out)."""
    return {f.name: v for f, v in acc.ListFields()}


def measured_values(acc: types_pb2.AcceleratorUsage) -> dict[str, Any]:  # noqa: PLR0915 -- one entry per measured field
    """What the evaluation reads of ``accelerator_values``, for a fraction of its cost.

    The same keys with the same values for every field the evaluation reads (the optional
    measurements and ``model``); fields it never reads (``pcie_bytes``, ``process_count``,
    the source) are left out. An unset optional field reads as zero, so presence is asked
    only of fields that read zero: one attribute read per field instead of a descriptor walk.
    """
    has = acc.HasField
    out: dict[str, Any] = {}
    x = acc.energy_j
    if x or has("energy_j"):
        out["energy_j"] = x
    x = acc.energy_method
    if x:
        out["energy_method"] = x
    x = acc.power_mean_w
    if x or has("power_mean_w"):
        out["power_mean_w"] = x
    x = acc.power_min_w
    if x or has("power_min_w"):
        out["power_min_w"] = x
    x = acc.power_max_w
    if x or has("power_max_w"):
        out["power_max_w"] = x
    x = acc.power_limit_w
    if x or has("power_limit_w"):
        out["power_limit_w"] = x
    x = acc.busy_fraction
    if x or has("busy_fraction"):
        out["busy_fraction"] = x
    x = acc.sm_active
    if x or has("sm_active"):
        out["sm_active"] = x
    x = acc.tensor_active
    if x or has("tensor_active"):
        out["tensor_active"] = x
    x = acc.memory_used_bytes
    if x or has("memory_used_bytes"):
        out["memory_used_bytes"] = x
    x = acc.memory_total_bytes
    if x or has("memory_total_bytes"):
        out["memory_total_bytes"] = x
    x = acc.nvlink_bytes
    if x or has("nvlink_bytes"):
        out["nvlink_bytes"] = x
    x = acc.power_variance_w2
    if x or has("power_variance_w2"):
        out["power_variance_w2"] = x
    x = acc.power_dominant_period_s
    if x or has("power_dominant_period_s"):
        out["power_dominant_period_s"] = x
    x = acc.power_periodicity
    if x or has("power_periodicity"):
        out["power_periodicity"] = x
    x = acc.synchrony
    if x or has("synchrony"):
        out["synchrony"] = x
    x = acc.peer_synchrony
    if x or has("peer_synchrony"):
        out["peer_synchrony"] = x
    x = acc.peer_index
    if x or has("peer_index"):
        out["peer_index"] = x
    x = acc.pcie_bytes
    if x or has("pcie_bytes"):
        out["pcie_bytes"] = x
    out["sample_count"] = acc.sample_count
    if acc.model:
        out["model"] = acc.model
    return out


def drawn_w(values: Mapping[str, Any], seconds: float) -> float:
    """The most a device's values (``accelerator_values``) over ``seconds`` say it drew, W: its
    highest sample, its mean, or its energy over the period."""
    energy = values.get("energy_j")
    return max(
        values.get("power_max_w") or 0.0,
        values.get("power_mean_w") or 0.0,
        energy / seconds if energy is not None and seconds > 0 else 0.0,
    )


def held_bytes(values: Mapping[str, Any]) -> float | None:
    """The most memory a device's values (``accelerator_values``) say it holds, bytes: the
    larger of its memory used and its total, or None where it reports neither."""
    used: float | None = values.get("memory_used_bytes")
    total: float | None = values.get("memory_total_bytes")
    if used is None:
        return total
    return used if total is None or used > total else total


def device_signals(values: Mapping[str, Any], seconds: float) -> DeviceSignals:
    """The classifier's view of one accelerator (``accelerator_values``) over ``seconds``.

    A device whose model gives no board — a model the table lacks, or one its values contradict
    (``pausewatch.peaks.contradicted``: it drew more, did tensor work with no units, or held more
    memory than it carries) — is judged against its reported limit, at most the table's largest
    board; one that reports no
    limit is judged by its utilisation alone. Against a board it may not have, its power proves
    or shows nothing: at the table's largest (1,400 W) honest lockstep batch generation on a
    400-W part read as training's collective waits (a red team's, 2026-12-06); at a smaller one
    a large part's serving reads as heavy."""
    peak = lookup_peak(values.get("model", ""))
    limit = values.get("power_limit_w")
    if limit is not None and limit <= 0:
        limit = None
    board: float | None
    if peak is None or contradicted(
        peak, drawn_w(values, seconds), values.get("tensor_active"), held_bytes(values)
    ):
        board = limit = None if limit is None else min(limit, UNKNOWN_MODEL_PEAK.board_power_w)
    else:
        board = peak.board_power_w
        if limit is None:
            limit = board
    nvlink = values.get("nvlink_bytes")
    pcie = values.get("pcie_bytes")
    return DeviceSignals(
        power_mean_w=values.get("power_mean_w"),
        power_min_w=values.get("power_min_w"),
        power_limit_w=limit,
        power_variance_w2=values.get("power_variance_w2"),
        busy_fraction=values.get("busy_fraction"),
        sm_active=values.get("sm_active"),
        tensor_active=values.get("tensor_active"),
        memory_used_bytes=values.get("memory_used_bytes"),
        memory_total_bytes=values.get("memory_total_bytes"),
        nvlink_bytes_per_s=None if nvlink is None else nvlink / seconds,
        periodicity=values.get("power_periodicity"),
        dominant_period_s=values.get("power_dominant_period_s"),
        synchrony=values.get("synchrony"),
        power_max_w=values.get("power_max_w"),
        board_power_w=board,
        pcie_bytes_per_s=None if pcie is None else pcie / seconds,
        sample_count=int(values.get("sample_count", 0)),
        peer_synchrony=values.get("peer_synchrony"),
        peer_index=values.get("peer_index"),
        counter_power_w=energy / seconds
        if values.get("energy_method") == types_pb2.ENERGY_METHOD_COUNTER
        and (energy := values.get("energy_j")) is not None
        and energy >= 0
        else None,
    )


def signals_from_usage(
    report: types_pb2.UsageReport, values: Sequence[Mapping[str, Any]] | None = None
) -> NodeSignals:
    """The classifier's view of a usage report (power limit defaults to the model's board power)."""
    seconds = max(1e-9, (report.period_end_unix_ns - report.period_start_unix_ns) / 1e9)
    if values is None:
        values = [accelerator_values(a) for a in report.accelerators]
    devices = tuple(device_signals(v, seconds) for v in values)
    node = report.node
    ib = float(node.infiniband_bytes) / seconds if node.HasField("infiniband_bytes") else None
    bmc = node.bmc_power_mean_w if node.HasField("bmc_power_mean_w") else None
    return NodeSignals(devices, ib, bmc)
