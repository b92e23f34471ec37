"""Synthetic nvidia-smi logs of the workloads the classifier must tell apart, evasions included.

Each generator returns per-second, per-GPU (power W, utilisation %, memory MiB) for a node of
``gpus`` boards of ``board_w`` W; ``render`` writes them as an ``nvidia-smi --query-gpu=timestamp,
[index,]power.draw,utilization.gpu,memory.used[,enforced.power.limit] --format=csv -lms 1000`` log.
Deterministic (``random.Random(seed)``). The shapes follow the real traces in ../shared/data
(8×H100 training: ~80 % of the limit in compute, ~20 % in stalls, every GPU in lockstep; batched
generation: flat near the limit; request-driven serving: bursts of varying height).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

IDLE = 0.1  # share of board power at idle (H100: ~70 W of 700 W)


@dataclass(frozen=True)
class Trace:
    power: list[list[float]]  # [second][gpu] W
    util: list[list[float]]  # %
    memory: list[list[float]]  # MiB
    limit_w: float | None = None  # enforced power limit written as a column, when set


def _blank(seconds: int, gpus: int) -> Trace:
    return Trace(
        [[0.0] * gpus for _ in range(seconds)],
        [[0.0] * gpus for _ in range(seconds)],
        [[0.0] * gpus for _ in range(seconds)],
    )


def idle(seconds: int, gpus: int, *, board_w: float = 700.0, seed: int = 0) -> Trace:
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    for s in range(seconds):
        for g in range(gpus):
            t.power[s][g] = board_w * IDLE * (1 + 0.01 * rng.uniform(-1, 1))
            t.memory[s][g] = 17.0
    return t


def training(
    seconds: int,
    gpus: int,
    *,
    board_w: float = 700.0,
    seed: int = 0,
    step_s: float = 4.0,
    compute: float = 0.82,
    stall_every_s: float | None = 270.0,
    stall_s: float = 17.0,
    stall_level: float = 0.21,
    stall_busy: float = 100.0,
    filler: float | None = None,
    trained: Sequence[int] | None = None,
    limit_w: float | None = None,
    memory_mib: float = 41_000.0,
    start_s: float = 0.0,
) -> Trace:
    """Data-parallel training: lockstep steps (compute, then a short all-reduce dip), and every
    ``stall_every_s`` a stall of ``stall_s`` (checkpoint or sync) at ``stall_level``; ``filler``:
    synthetic load injected into the stalls at that level (the evasion); ``trained``: the GPUs
    that train (the others idle); ``limit_w``: a lowered power limit (the job runs at it)."""
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    scale = limit_w if limit_w is not None else board_w
    active = set(range(gpus) if trained is None else trained)
    phase = rng.uniform(0, step_s)
    for s in range(seconds):
        common = rng.gauss(0, 0.01)
        in_stall = stall_every_s is not None and (s - start_s) % stall_every_s >= stall_every_s - stall_s
        dip = ((s + phase) % step_s) / step_s > 0.8
        for g in range(gpus):
            if g not in active:
                t.power[s][g] = board_w * IDLE * (1 + 0.01 * rng.uniform(-1, 1))
                t.memory[s][g] = 17.0
                continue
            if in_stall and filler is None:
                watts, util = min(stall_level * board_w, scale), stall_busy
            elif in_stall and filler is not None:
                watts, util = (filler + rng.gauss(0, 0.02)) * scale, 100.0
            else:
                watts, util = (0.62 if dip else compute) * scale, 100.0 if not dip else 85.0
            watts *= 1 + common + rng.gauss(0, 0.012)
            t.power[s][g] = min(scale, max(board_w * IDLE * 0.9, watts))
            t.util[s][g] = util
            t.memory[s][g] = memory_mib + rng.choice((0.0, 20.0))
    return Trace(t.power, t.util, t.memory, limit_w)


def duty_cycle(
    seconds: int,
    gpus: int,
    *,
    on_s: int = 30,
    off_s: int = 30,
    seed: int = 0,
    board_w: float = 700.0,
    offset_s: int = 0,
) -> Trace:
    """Train ``on_s`` seconds, pause ``off_s`` seconds (memory kept), in lockstep: the duty-cycle evasion."""
    return training(
        seconds,
        gpus,
        seed=seed,
        board_w=board_w,
        stall_every_s=float(on_s + off_s),
        stall_s=float(off_s),
        stall_level=IDLE,
        stall_busy=0.0,
        start_s=float(offset_s),
    )


def tp_inference(
    seconds: int,
    gpus: int,
    *,
    board_w: float = 700.0,
    seed: int = 0,
    rate_per_s: float = 0.15,
    memory_mib: float = 72_000.0,
) -> Trace:
    """Tensor-parallel serving: Poisson requests, each a 1-s prefill spike then a decode of
    3–30 s whose power grows with the number of requests in flight; every GPU in lockstep."""
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    ends: list[float] = []
    for s in range(seconds):
        ends = [e for e in ends if e > s]
        prefill = False
        for _ in range(_poisson(rng, rate_per_s)):
            ends.append(s + 1 + rng.uniform(3, 30))
            prefill = True
        n = len(ends)
        if prefill:
            level, util = 0.75 + 0.1 * rng.random(), 100.0
        elif n:
            level, util = min(0.7, 0.3 + 0.07 * n) + rng.gauss(0, 0.03), min(100.0, 60.0 + 10 * n)
        else:
            level, util = IDLE + 0.03, 0.0
        for g in range(gpus):
            t.power[s][g] = board_w * (level + rng.gauss(0, 0.01))
            t.util[s][g] = util
            t.memory[s][g] = memory_mib
    return t


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def batched_generation(
    seconds: int,
    gpus: int,
    *,
    board_w: float = 700.0,
    seed: int = 0,
    lockstep: bool = False,
    memory_mib: float = 40_000.0,
) -> Trace:
    """Offline batched generation at 100 % utilisation: flat near the limit, a short dip between
    batches (every 15–25 s); replicas independent unless ``lockstep`` (tensor-parallel)."""
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    next_dip = [rng.uniform(15, 25) for _ in range(gpus)]
    shared_dip = rng.uniform(15, 25)
    for s in range(seconds):
        shared = s >= shared_dip
        if shared:
            shared_dip = s + rng.uniform(15, 25)
        for g in range(gpus):
            dip = shared if lockstep else s >= next_dip[g]
            if not lockstep and dip:
                next_dip[g] = s + rng.uniform(15, 25)
            level = (0.55 if dip else 0.93) + rng.gauss(0, 0.015)
            t.power[s][g] = board_w * min(1.0, level)
            t.util[s][g] = 100.0 if not dip else 60.0
            t.memory[s][g] = memory_mib
    return t


def burn_in(seconds: int, gpus: int, *, board_w: float = 700.0, seed: int = 0) -> Trace:
    """gpu-burn: every GPU flat at ~90 % of the limit, 100 % utilisation, some memory."""
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    for s in range(seconds):
        drift = 0.01 * ((s % 120) / 120)
        for g in range(gpus):
            t.power[s][g] = board_w * (0.9 + drift + rng.gauss(0, 0.004))
            t.util[s][g] = 100.0
            t.memory[s][g] = 16_000.0
    return t


def request_inference(seconds: int, gpus: int, *, board_w: float = 700.0, seed: int = 0) -> Trace:
    """Independent replicas serving requests: bursts of varying height, idle in between."""
    rng = random.Random(seed)
    t = _blank(seconds, gpus)
    for s in range(seconds):
        for g in range(gpus):
            if rng.random() < 0.3:
                level, util = 0.25 + 0.4 * rng.random(), 40.0 + 50.0 * rng.random()
            else:
                level, util = IDLE + 0.02, 0.0
            t.power[s][g] = board_w * level
            t.util[s][g] = util
            t.memory[s][g] = 30_000.0
    return t


def concat(*parts: Trace) -> Trace:
    return Trace(
        [r for p in parts for r in p.power],
        [r for p in parts for r in p.util],
        [r for p in parts for r in p.memory],
        next((p.limit_w for p in parts if p.limit_w is not None), None),
    )


def render(
    trace: Trace,
    *,
    index_column: bool = False,
    units: bool = True,
    start: str = "2026/01/05 10:00:00",
    interval_s: float = 1.0,
    memory: bool = True,
) -> str:
    """The trace as an nvidia-smi --query-gpu CSV log (``memory``: with its memory.used column)."""
    cols = (
        ["timestamp"]
        + (["index"] if index_column else [])
        + ["power.draw [W]", "utilization.gpu [%]"]
        + (["memory.used [MiB]"] if memory else [])
    )
    if trace.limit_w is not None:
        cols.append("enforced.power.limit [W]")
    lines = [", ".join(cols)]
    t0 = dt.datetime.strptime(start, "%Y/%m/%d %H:%M:%S")
    for s, (pw, ut, mem) in enumerate(zip(trace.power, trace.util, trace.memory, strict=True)):
        for g in range(len(pw)):
            when = t0 + dt.timedelta(seconds=s * interval_s, milliseconds=g)
            stamp = when.strftime("%Y/%m/%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
            w, u, m = (
                (f"{pw[g]:.2f} W", f"{ut[g]:.0f} %", f"{mem[g]:.0f} MiB")
                if units
                else (f"{pw[g]:.2f}", f"{ut[g]:.0f}", f"{mem[g]:.0f}")
            )
            row = [stamp] + ([str(g)] if index_column else []) + [w, u] + ([m] if memory else [])
            if trace.limit_w is not None:
                row.append(f"{trace.limit_w:.2f} W" if units else f"{trace.limit_w:.2f}")
            lines.append(", ".join(row))
    return "\n".join(lines) + "\n"


def serving_runs(
    gpus: int,
    runs: Sequence[tuple[int, float]],
    *,
    gap_s: int = 20,
    board_w: float = 700.0,
    seed: int = 0,
    memory_mib: float = 72_000.0,
) -> Trace:
    """A tensor-parallel server driven by a benchmark: runs of (seconds, load level) at a steady
    level, separated by ``gap_s`` idle seconds; the KV cache stays allocated throughout."""
    rng = random.Random(seed)
    power: list[list[float]] = []
    util: list[list[float]] = []
    for n, (seconds, level) in enumerate(runs):
        for s in range(seconds + (gap_s if n + 1 < len(runs) else 0)):
            busy = s < seconds
            common = rng.gauss(0, 0.015)
            power.append(
                [
                    board_w * ((level + common) if busy else IDLE + 0.02) * (1 + rng.gauss(0, 0.005))
                    for _ in range(gpus)
                ]
            )
            util.append([100.0 if busy else 0.0] * gpus)
    return Trace(power, util, [[memory_mib] * gpus for _ in power])


# ---- red-team generators (tests/evaluation/test_classify_redteam.py) ---------------------------
# Continuous-time workloads sampled every ``dt`` seconds, so that one workload can be logged at
# 100 ms, 1 s, 5 s or 10 s; render them with ``render(trace, interval_s=dt)``.


def lockstep_job(
    seconds: float,
    gpus: int,
    *,
    dt: float = 1.0,
    board_w: float = 700.0,
    limit_w: float | None = None,
    seed: int = 0,
    step_s: float = 4.0,
    compute: float = 0.82,
    dip: float = 0.62,
    dip_share: float = 0.2,
    ckpt_every_s: float | None = 270.0,
    stall_s: float = 17.0,
    stall_level: float = 0.21,
    stall_busy: float = 100.0,
    eval_every_s: float | None = None,
    eval_s: float = 120.0,
    eval_level: float = 0.55,
    eval_busy: float = 100.0,
    rank_offset: float = 0.0,
    trained: Sequence[int] | None = None,
    memory_mib: float = 41_000.0,
    start_s: float = 0.0,
    warmup_s: float = 0.0,
    noise_common: float = 0.01,
    noise_gpu: float = 0.012,
    step_jitter: float = 0.0,
) -> Trace:
    """Data-parallel (or pipeline-parallel) training, sampled every ``dt`` s.

    Steps of ``step_s``: ``compute`` (share of the limit) then ``dip`` for the last ``dip_share``
    of the step; every ``ckpt_every_s`` a stall of ``stall_s`` at ``stall_level`` of the board
    (utilisation ``stall_busy``: 100 = ranks spinning in a collective), none when
    ``ckpt_every_s`` is None (async checkpointing); every ``eval_every_s`` an evaluation of
    ``eval_s`` at ``eval_level`` (lighter lockstep forward passes). ``rank_offset``: rank g's
    step phase lags by g × rank_offset steps (pipeline stages). ``warmup_s``: memory and load
    ramp at the start (model loading). ``noise_common`` / ``noise_gpu``: relative power noise
    each sample, shared by all GPUs / per GPU (their ratio sets the synchrony of flat compute:
    0.58 at the defaults; the real 8×H100 run's flat compute periods read 0.83–0.90).
    ``step_jitter``: each step lasts ``step_s`` × (1 ± up to that share), drawn from its own
    generator (uneven batches, an evader blurring the step rhythm)."""
    rng = random.Random(seed)
    n = round(seconds / dt)
    t = _blank(n, gpus)
    scale = limit_w if limit_w is not None else board_w
    active = set(range(gpus) if trained is None else trained)
    phase = rng.uniform(0, step_s)
    steps = random.Random(seed + 1)
    step_start, step_len = -phase, step_s
    for k in range(n):
        s = k * dt
        while s >= step_start + step_len:
            step_start += step_len
            step_len = step_s * (1 + step_jitter * steps.uniform(-1, 1)) if step_jitter else step_s
        common = rng.gauss(0, noise_common)
        rel = s - start_s
        in_stall = ckpt_every_s is not None and rel % ckpt_every_s >= ckpt_every_s - stall_s
        in_eval = eval_every_s is not None and not in_stall and rel % eval_every_s < eval_s
        loading = s < warmup_s
        for g in range(gpus):
            if g not in active:
                t.power[k][g] = board_w * IDLE * (1 + 0.01 * rng.uniform(-1, 1))
                t.memory[k][g] = 17.0
                continue
            if loading:
                watts, util = board_w * (IDLE + 0.05 * rng.random()), 10.0 * rng.random()
                mem = memory_mib * min(1.0, s / max(warmup_s, 1.0))
            elif in_stall:
                watts, util, mem = min(stall_level * board_w, scale), stall_busy, memory_mib
            else:
                frac = ((s - step_start) / step_len - g * rank_offset) % 1.0
                low = frac >= 1.0 - dip_share
                level = eval_level if in_eval else (dip if low else compute)
                watts = level * scale
                util = eval_busy if in_eval else (85.0 if low else 100.0)
                mem = memory_mib
            watts *= 1 + common + rng.gauss(0, noise_gpu)
            t.power[k][g] = min(scale, max(board_w * IDLE * 0.9, watts))
            t.util[k][g] = util
            t.memory[k][g] = mem + rng.choice((0.0, 20.0))
    return Trace(t.power, t.util, t.memory, limit_w)


def tp_serving(
    seconds: float,
    gpus: int,
    *,
    rate: Callable[[float], float],
    dt: float = 1.0,
    board_w: float = 700.0,
    seed: int = 0,
    memory_mib: float = 72_000.0,
    restart_every_s: float | None = None,
    restart_s: float = 45.0,
) -> Trace:
    """Tensor-parallel serving whose Poisson request rate follows ``rate(t)`` (per s): prefill
    spikes, decode power growing with requests in flight, every GPU in lockstep.
    ``restart_every_s``: the server restarts (memory freed for ``restart_s``, then re-allocated
    at a slightly different footprint)."""
    rng = random.Random(seed)
    n = round(seconds / dt)
    t = _blank(n, gpus)
    ends: list[float] = []
    footprint = memory_mib
    for k in range(n):
        s = k * dt
        down = restart_every_s is not None and s % restart_every_s >= restart_every_s - restart_s
        if down and restart_every_s is not None and s % restart_every_s < restart_every_s - restart_s + dt:
            footprint = memory_mib * (1 + 0.03 * rng.uniform(-1, 1))
            ends = []
        ends = [e for e in ends if e > s]
        arrivals = 0 if down else _poisson(rng, rate(s) * dt)
        for _ in range(arrivals):
            ends.append(s + 1 + rng.uniform(3, 30))
        inflight = len(ends)
        if down:
            level, util, mem = IDLE, 0.0, 0.0
        elif arrivals:
            level, util, mem = 0.75 + 0.1 * rng.random(), 100.0, footprint
        elif inflight:
            level = min(0.7, 0.3 + 0.07 * inflight) + rng.gauss(0, 0.03)
            util, mem = min(100.0, 60.0 + 10 * inflight), footprint
        else:
            level, util, mem = IDLE + 0.03, 0.0, footprint
        for g in range(gpus):
            t.power[k][g] = board_w * (level + rng.gauss(0, 0.01))
            t.util[k][g] = util
            t.memory[k][g] = mem
    return t


def batch_generation_cycle(
    seconds: float,
    gpus: int,
    *,
    batch_s: float = 40.0,
    prefill_s: float = 3.0,
    decode: float = 0.7,
    decode_end: float = 0.45,
    gap_s: float = 4.0,
    gap_level: float = 0.15,
    decode_busy: float = 100.0,
    dt: float = 1.0,
    board_w: float = 700.0,
    seed: int = 0,
    memory_mib: float = 70_000.0,
) -> Trace:
    """Offline batched generation, tensor-parallel (lockstep), one batch every ``batch_s``: a
    prefill of ``prefill_s`` near the limit, a decode plateau falling from ``decode`` to
    ``decode_end`` as sequences finish, then ``gap_s`` of host work (tokenise, write) at
    ``gap_level``. The same batch shape over and over: a fixed period."""
    rng = random.Random(seed)
    n = round(seconds / dt)
    t = _blank(n, gpus)
    for k in range(n):
        s = k * dt
        x = s % batch_s
        if x < prefill_s:
            level, util = 0.92, 100.0
        elif x < batch_s - gap_s:
            f = (x - prefill_s) / max(1e-9, batch_s - gap_s - prefill_s)
            level, util = decode + (decode_end - decode) * f, decode_busy
        else:
            level, util = gap_level, 0.0
        common = rng.gauss(0, 0.01)
        for g in range(gpus):
            t.power[k][g] = board_w * max(IDLE * 0.9, level + common + rng.gauss(0, 0.008))
            t.util[k][g] = util
            t.memory[k][g] = memory_mib
    return t


def subsample(trace: Trace, every: int) -> Trace:
    """Every ``every``-th sample of ``trace`` (a slower logger of the same workload)."""
    return Trace(trace.power[::every], trace.util[::every], trace.memory[::every], trace.limit_w)
