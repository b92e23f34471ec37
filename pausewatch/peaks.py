"""Peak compute of accelerator models, each number beside its source.

Three figures per model, all in FLOP/s (operations per second for integer formats, which the
vendors quote as TOPS; an integer multiply-add counts as two operations exactly as a
floating-point one does):

- ``densest_flops``: the highest tensor throughput the vendor claims for the part, in the
  densest format it quotes, *with* structured sparsity where the vendor quotes a sparse figure
  (FP4/FP8/INT8 with 2:4 sparsity on NVIDIA Ampere and later, FP8/INT8 with sparsity on AMD
  CDNA3). No real workload runs faster than this, so ``active seconds × densest_flops`` is an
  upper bound on what a device can have computed. "Densest" means the vendor's own maximum,
  not a format a training run would use.
- ``dense_bf16_flops``: dense BF16/FP16 tensor throughput (sparse figures halved), the format
  large training runs use: the basis of the *best estimate*.
- ``least_tensor_flops``: the lowest dense tensor-core figure the vendor quotes (TF32 where
  the part has it, else FP16): the basis of the *lower bound* from measured tensor activity.
- ``board_power_w``: the vendor's maximum board power (TDP / TBP), W: the allowance for a
  device that did not report, and the default power limit when the source gives none.

Sources are the vendors' public datasheets, named beside each entry; where a datasheet quotes
fewer formats than the table has columns, the figure is the architecture's ratio to one it
quotes (its whitepaper's), said beside it. Parts without tensor cores (Pascal, Maxwell) give
the format their training would use (FP32, or FP16 on P100) for the tensor columns. The
export variants A800 and H800 are read as the A100 and H100 they are cut from (same tensor
rates; their interconnect differs). Model names are matched
from the strings devices report (``nvidia-smi`` ``name``, NVML ``nvmlDeviceGetName``, DCGM
``modelName``, rocm-smi card series) by ordered patterns, most specific first. An unknown model
gets ``UNKNOWN_MODEL_PEAK``: the largest ``densest_flops`` in the table (raised, where needed, so
that its ratio to the largest board power is the table's largest FLOP/s per W), so that the upper
bound stays an upper bound, and the caller records a finding; so does a device whose power
contradicts its model (``overdrawn``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

__all__ = [
    "BOARD_OVERDRAW",
    "MEMORY_MARGIN",
    "PEAKS",
    "TENSORLESS_MAX",
    "UNKNOWN_MODEL_PEAK",
    "AcceleratorPeak",
    "contradicted",
    "contradiction",
    "either",
    "is_laptop_part",
    "lookup_peak",
    "memory_beyond",
    "overdrawn",
    "overdrawn_peak",
    "same_part",
    "tensor_without_units",
]

_T = 1e12  # TFLOPS / TOPS → FLOP/s
_P = 1e15  # PFLOPS → FLOP/s


@dataclass(frozen=True)
class AcceleratorPeak:
    """Vendor peak figures for one accelerator model (FLOP/s and W) and where they come from."""

    model: str
    densest_flops: float
    densest_format: str
    dense_bf16_flops: float
    least_tensor_flops: float
    board_power_w: float
    source: str
    patterns: tuple[str, ...]
    # False for parts without tensor units (Pascal, Maxwell): tensor-pipe activity reported for
    # one contradicts the name (``contradicted``)
    tensor_units: bool = True
    # an entry for a name several parts share (``either``): their models, each of which agrees
    # with it (``same_part``)
    parts: tuple[str, ...] = ()
    # the most memory any board of the part carries, GiB (``MEMORY_GIB``; None: not known): a
    # device that reports more is not this part (``memory_beyond``)
    memory_gib: float | None = None


# Consumer cards whose spec pages quote only the shader (FP32) rate: their tensor figures follow
# from it by their architecture's fixed ratios, read off the whitepapers' full tables (Turing:
# RTX 2080 Ti, INT4 32×, FP16 with FP32 accumulate 4×, no TF32; Ampere GA10x: RTX 3080/3090,
# INT4 sparse 32×, BF16 with FP32 accumulate 2×, TF32 1×; Ada: RTX 4090, the same; Pascal:
# INT8 by DP4A 4×, FP32 for the tensor columns). The professional parts accumulate in FP32 at
# the full rate: Turing Quadro (Quadro RTX 8000: FP16 8×), Ampere RTX A-series (RTX A6000: FP16
# 4×, TF32 2×, INT4 sparse 32×), Ada RTX (RTX 6000 Ada: FP8 sparse 16×, so BF16 4×; no TF32
# figure quoted, so the lower bound takes FP32's 1×; Blackwell RTX PRO, RTX PRO 6000 Workstation
# Edition: "AI TOPS" FP4 sparse 32× its FP32, FP16/BF16 with FP32 accumulate 4× as on the Ada
# professional parts, no TF32 figure quoted, so FP32's 1× again).
_RATIOS: Final = {
    "Pascal": ("INT8 (DP4A)", 4.0, 1.0, 1.0),
    "Turing": ("INT4 dense", 32.0, 4.0, 4.0),
    "Ampere": ("INT4 sparse", 32.0, 2.0, 1.0),
    "Ada": ("INT4 sparse", 32.0, 2.0, 1.0),
    "Turing professional": ("INT4 dense", 32.0, 8.0, 8.0),
    "Ampere professional": ("INT4 sparse", 32.0, 4.0, 2.0),
    "Ada professional": ("INT4 sparse", 32.0, 4.0, 1.0),
    "Blackwell professional": ("FP4 sparse", 32.0, 4.0, 1.0),
}


def _by_ratio(model: str, arch: str, fp32_tflops: float, board_w: float, pattern: str) -> AcceleratorPeak:
    fmt, densest, bf16, least = _RATIOS[arch]
    return AcceleratorPeak(
        model=model,
        densest_flops=densest * fp32_tflops * _T,
        densest_format=fmt,
        dense_bf16_flops=bf16 * fp32_tflops * _T,
        least_tensor_flops=least * fp32_tflops * _T,
        board_power_w=board_w,
        source=(
            f"{model} specifications (nvidia.com): FP32 {fp32_tflops} TF, {board_w:.0f} W;"
            f" tensor figures by the {arch} ratios (peaks._RATIOS)"
        ),
        patterns=(pattern,),
        tensor_units=arch != "Pascal",
    )


def either(model: str, *parts: AcceleratorPeak) -> AcceleratorPeak:
    """Figures for a device that may be any of ``parts`` (a bare name several parts share, or an
    inventory and a report that name two): the largest of their upper figures — the densest
    raised, where needed, to the best FLOP/s per W of them at the largest board, so that the
    energy bound holds too (an H100 PCIe does 8.6 TF/W, the SXM part 5.7) — and the smallest of
    their lower bounds, so that bounds stay bounds whichever part it is."""
    densest = max(parts, key=lambda p: p.densest_flops)
    board = max(p.board_power_w for p in parts)
    efficient = max(parts, key=lambda p: p.densest_flops / p.board_power_w)
    by_energy = efficient.densest_flops / efficient.board_power_w * board
    return AcceleratorPeak(
        model=model,
        densest_flops=max(densest.densest_flops, by_energy),
        densest_format=f"{densest.densest_format} ({densest.model})"
        if densest.densest_flops >= by_energy
        else f"the best FLOP/s per W ({efficient.model}) at the largest board power",
        dense_bf16_flops=max(p.dense_bf16_flops for p in parts),
        least_tensor_flops=min(p.least_tensor_flops for p in parts),
        board_power_w=board,
        source=(
            f"either of {', '.join(p.model for p in parts)}: the larger upper figures, the smaller lower one"
        ),
        patterns=(),
        tensor_units=any(p.tensor_units for p in parts),
        parts=tuple(p.model for p in parts),
        memory_gib=_largest([p.memory_gib for p in parts]),
    )


def _largest(sizes: Sequence[float | None]) -> float | None:
    """The most memory any of several parts carries, or None where one of them is not known."""
    return None if any(x is None for x in sizes) else float(max(x for x in sizes if x is not None))


def _either(model: str, pattern: str, *parts: AcceleratorPeak) -> AcceleratorPeak:
    """A table entry for a name several parts share (a bare "TITAN X", "RTX 6000")."""
    return replace(either(model, *parts), patterns=(pattern,))


_TITAN_X_MAXWELL: Final = AcceleratorPeak(
    model="NVIDIA GeForce GTX TITAN X (Maxwell)",
    # GeForce GTX TITAN X (Maxwell GM200, 2015): FP32 7 TF ("7 teraflops single precision");
    # no tensor cores, no DP4A; 250 W.
    densest_flops=7 * _T,
    densest_format="FP32",
    dense_bf16_flops=7 * _T,
    least_tensor_flops=7 * _T,
    board_power_w=250.0,
    source="NVIDIA GeForce GTX TITAN X specifications (geforce.com, GTX TITAN X, March 2015)",
    patterns=(r"\bgtx titan x\b",),
    tensor_units=False,
)
_TITAN_X_PASCAL: Final = AcceleratorPeak(
    model="NVIDIA TITAN X (Pascal)",
    # TITAN X (Pascal GP102, 2016): FP32 11 TF, INT8 44 TOPS (DP4A, as NVIDIA quotes it); no
    # tensor cores: FP32 stands for the BF16 and tensor figures; 250 W.
    densest_flops=44 * _T,
    densest_format="INT8 (DP4A)",
    dense_bf16_flops=11 * _T,
    least_tensor_flops=11 * _T,
    board_power_w=250.0,
    source="NVIDIA TITAN X (Pascal) specifications (nvidia.com, TITAN X, July 2016)",
    patterns=(r"\btitan x pascal\b",),
    tensor_units=False,
)
# the datasheet quotes FP8 at 1,457 TF (sparse), 16× its FP32: the Ada professional ratios
_RTX_6000_ADA: Final = _by_ratio(
    "NVIDIA RTX 6000 Ada Generation", "Ada professional", 91.1, 300.0, r"\brtx 6000 ada\b"
)
_QUADRO_RTX_8000: Final = AcceleratorPeak(
    model="NVIDIA Quadro RTX 8000 / 6000",
    # Quadro RTX 8000 and 6000 (Turing TU102, same compute): INT4 522 TOPS, INT8 261, FP16
    # tensor 130.5 TF; FP32 16.3 TF; 295 W (the actively cooled boards).
    densest_flops=522 * _T,
    densest_format="INT4 dense",
    dense_bf16_flops=130.5 * _T,
    least_tensor_flops=130.5 * _T,
    board_power_w=295.0,
    source=(
        "NVIDIA Quadro RTX 8000 and RTX 6000 datasheets (nvidia.com/en-us/design-visualization/quadro)"
    ),
    patterns=(r"\bquadro rtx [68]000\b",),
)

_MI250X: Final = AcceleratorPeak(
    model="AMD Instinct MI250X",
    # MI250X (OAM): FP16 / BF16 / INT8 383 TFLOPS/TOPS dense (no sparsity); FP32 matrix 95.7 TF; 560 W.
    densest_flops=383 * _T,
    densest_format="FP16/BF16/INT8 dense",
    dense_bf16_flops=383 * _T,
    least_tensor_flops=95.7 * _T,
    board_power_w=560.0,
    source=(
        "AMD Instinct MI250X accelerator data sheet"
        " (amd.com/en/products/accelerators/instinct/mi200/mi250x)"
    ),
    patterns=(r"\bmi250x\b",),
)
_MI250: Final = AcceleratorPeak(
    model="AMD Instinct MI250",
    # MI250 (OAM, 208 CUs to the MI250X's 220): FP16 / BF16 / INT8 362.1 TFLOPS/TOPS dense (no
    # sparsity); FP32 matrix 90.5 TF; 560 W peak, as the MI250X.
    densest_flops=362.1 * _T,
    densest_format="FP16/BF16/INT8 dense",
    dense_bf16_flops=362.1 * _T,
    least_tensor_flops=90.5 * _T,
    board_power_w=560.0,
    source=(
        "AMD Instinct MI250 accelerator data sheet"
        " (amd.com/en/products/accelerators/instinct/mi200/mi250)"
    ),
    patterns=(r"\bmi250\b",),
)
# the amdgpu marketing-name table names PCI device 0x740C "AMD Instinct MI250X / MI250" (both
# parts), 0x7408 "AMD Instinct MI250X": the shared name is read as either
_MI250X_OR_MI250: Final = _either("AMD Instinct MI250X / MI250", r"\bmi250x mi250\b", _MI250X, _MI250)

_PEAKS: Final[tuple[AcceleratorPeak, ...]] = (
    AcceleratorPeak(
        model="NVIDIA GB300",
        # GB300 NVL72 (72 Blackwell Ultra GPUs): FP4 Tensor Core 1,440 PFLOPS (sparse) / 1,080
        # dense, FP8/FP6 720 PF (sparse), FP16/BF16 360 PF (sparse), TF32 180 PF (sparse); per
        # GPU (÷ 72): FP4 20 PF (sparse), BF16 5 PF (sparse) → 2.5 dense, TF32 2.5 PF (sparse)
        # → 1.25 dense. The page gives no per-GPU power: 1,400 W is the GB300 GPU's maximum as
        # the operators' per-GPU tables quote it (verda.com/blog/gb300-nvl72-architecture,
        # "Max Thermal Design Power 1.4 kW"), not an NVIDIA figure. NVML names it "NVIDIA GB300".
        densest_flops=20 * _P,
        densest_format="FP4 sparse",
        dense_bf16_flops=2.5 * _P,
        least_tensor_flops=1.25 * _P,
        board_power_w=1400.0,
        source="NVIDIA GB300 NVL72 specifications (nvidia.com/en-us/data-center/gb300-nvl72), ÷ 72 GPUs",
        patterns=(r"\bgb300\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA B300",
        # HGX B300 (8 Blackwell Ultra GPUs): FP4 Tensor Core 144 PFLOPS (sparse) / 108 dense,
        # FP8/FP6 72 PF (sparse), FP16/BF16 36 PF (sparse), TF32 18 PF (sparse); per GPU (÷ 8):
        # FP4 18 PF (sparse), BF16 4.5 PF (sparse) → 2.25 dense, TF32 2.25 PF (sparse) → 1.125
        # dense. No per-GPU power on the page: 1,100 W as the per-GPU tables quote it
        # (verda.com/blog/gb300-nvl72-architecture, B300 "1.1 kW"), not an NVIDIA figure; a B300
        # run above 1,375 W is read as overdrawn (unknown upper bound), the safe side. nvidia-smi
        # names the HGX part "NVIDIA B300 SXM6 AC".
        densest_flops=18 * _P,
        densest_format="FP4 sparse",
        dense_bf16_flops=2.25 * _P,
        least_tensor_flops=1.125 * _P,
        board_power_w=1100.0,
        source="NVIDIA HGX B300 specifications (nvidia.com/en-us/data-center/hgx), ÷ 8 GPUs",
        patterns=(r"\bb300\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA GB200",
        # GB200 NVL72, "Individual Blackwell GPU Specifications": FP4 Tensor Core 20 PFLOPS
        # (sparse), FP8/FP6 10 PF (sparse), FP16/BF16 5 PF (sparse) → 2.5 dense, TF32 2.5 PF
        # (sparse) → 1.25 dense; Max TDP configurable up to 1,200 W. NVML names it "NVIDIA GB200"
        # (no word boundary before "b200").
        densest_flops=20 * _P,
        densest_format="FP4 sparse",
        dense_bf16_flops=2.5 * _P,
        least_tensor_flops=1.25 * _P,
        board_power_w=1200.0,
        source="NVIDIA GB200 NVL72 specifications (nvidia.com/en-us/data-center/gb200-nvl72), per-GPU column",
        patterns=(r"\bgb200\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA B100",
        # HGX B100 per GPU: FP4 Tensor Core 14 PFLOPS (sparse), FP8/FP6 7 PF (sparse), FP16/BF16
        # 3.5 PF (sparse) → 1.75 dense, TF32 1.75 PF (sparse) → 0.875 dense; 700 W.
        densest_flops=14 * _P,
        densest_format="FP4 sparse",
        dense_bf16_flops=1.75 * _P,
        least_tensor_flops=0.875 * _P,
        board_power_w=700.0,
        source="NVIDIA HGX B100 specifications (nvidia.com/en-us/data-center/hgx, 2024), per-GPU column",
        patterns=(r"\bb100\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA B200",
        # HGX B200 per GPU: FP4 Tensor 18 PFLOPS (sparse), FP8 9 PF (sparse), BF16 4.5 PF
        # (sparse) → 2.25 PF dense, TF32 2.2 PF (sparse) → 1.1 PF dense; up to 1,000 W.
        densest_flops=18 * _P,
        densest_format="FP4 sparse",
        dense_bf16_flops=2.25 * _P,
        least_tensor_flops=1.1 * _P,
        board_power_w=1000.0,
        source="NVIDIA HGX B200 datasheet (nvidia.com/en-us/data-center/hgx), per-GPU column",
        patterns=(r"\bb200\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA GH200",
        # GH200 Grace Hopper Superchip, its Hopper GPU (an H100- or H200-class die, 96 GB HBM3 or
        # 144 GB HBM3e): FP8 3,958 TFLOPS (sparse), BF16 1,979 TF (sparse), TF32 989 TF (sparse);
        # the module (CPU, GPU and memory) configurable up to 1,000 W. NVML names it
        # "NVIDIA GH200 480GB" (or "... 144G HBM3e"): no word boundary before "h200".
        densest_flops=3958 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=989.5 * _T,
        least_tensor_flops=494.5 * _T,
        board_power_w=1000.0,
        source="NVIDIA GH200 Grace Hopper Superchip datasheet"
        " (nvidia.com/en-us/data-center/grace-hopper-superchip)",
        patterns=(r"\bgh200\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA H200 NVL",
        # H200 NVL: FP8 3,341 TFLOPS (sparse), BF16 1,671 TF (sparse), TF32 835 TF (sparse); 600 W.
        densest_flops=3341 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=835.5 * _T,
        least_tensor_flops=417.5 * _T,
        board_power_w=600.0,
        source="NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200), H200 NVL column",
        patterns=(r"\bh200\b.*\bnvl\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA H200 SXM",
        # H200 SXM: FP8 3,958 TFLOPS (sparse), BF16 1,979 TF (sparse), TF32 989 TF (sparse); 700 W.
        densest_flops=3958 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=989.5 * _T,
        least_tensor_flops=494.5 * _T,
        board_power_w=700.0,
        source="NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200), H200 SXM column",
        patterns=(r"\bh200\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA H100 NVL",
        # H100 NVL: FP8 3,341 TFLOPS (sparse), BF16 1,671 TF (sparse), TF32 835 TF (sparse); 400 W.
        densest_flops=3341 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=835.5 * _T,
        least_tensor_flops=417.5 * _T,
        board_power_w=400.0,
        source="NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), H100 NVL column",
        patterns=(r"\bh100\b.*\bnvl\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA H100 PCIe",
        # H100 PCIe: FP8 3,026 TFLOPS (sparse), BF16 1,513 TF (sparse), TF32 756 TF (sparse); 350 W.
        densest_flops=3026 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=756.5 * _T,
        least_tensor_flops=378 * _T,
        board_power_w=350.0,
        source="NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), H100 PCIe column",
        patterns=(r"\bh100\b.*\bpcie\b", r"\bh800\b.*\bpcie\b"),
    ),
    AcceleratorPeak(
        model="NVIDIA H100 SXM",
        # H100 SXM: FP8 3,958 TFLOPS (sparse), BF16 1,979 TF (sparse), TF32 989 TF (sparse); 700 W.
        # "NVIDIA H100 80GB HBM3" is the SXM5 part's NVML name.
        densest_flops=3958 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=989.5 * _T,
        least_tensor_flops=494.5 * _T,
        board_power_w=700.0,
        source="NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), H100 SXM column",
        patterns=(r"\bh100\b", r"\bh800\b"),
    ),
    AcceleratorPeak(
        model="NVIDIA H20",
        # H20 (Hopper, 78 SMs, 96 GB; the export part for China): no NVIDIA datasheet is public.
        # The figures reported for it agree: FP16/BF16 148 TFLOPS dense, INT8/FP8 296 dense, TF32
        # 74, FP32 44; 400 W (willitrunai.com/gpus/h20-96gb; a Geekbench listing's SM count,
        # zangshuxian.com/new/674733024499207168). They keep the H100's ratios (INT8 twice FP16,
        # TF32 half of it, all dense), so the densest takes Hopper's 2:4 sparsity doubling, which
        # no report quotes: a bound stays a bound.
        densest_flops=592 * _T,
        densest_format="FP8/INT8 sparse (Hopper's doubling of the reported dense 296)",
        dense_bf16_flops=148 * _T,
        least_tensor_flops=74 * _T,
        board_power_w=400.0,
        source="reported H20 specifications (no NVIDIA datasheet): willitrunai.com/gpus/h20-96gb",
        patterns=(r"\bh20\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA A100 PCIe",
        # A100 80GB PCIe: INT8 1,248 TOPS (sparse), BF16 624 TF (sparse) → 312 dense, TF32 312 TF
        # (sparse) → 156 dense; 300 W. The datasheet stops at INT8; the A100 whitepaper (Table 1)
        # quotes INT4 at 2,496 TOPS (sparse), the densest figure.
        densest_flops=2496 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=312 * _T,
        least_tensor_flops=156 * _T,
        board_power_w=300.0,
        source="NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100), A100 PCIe column",
        patterns=(r"\ba100\b.*\bpcie\b", r"\ba800\b.*\bpcie\b"),
    ),
    AcceleratorPeak(
        model="NVIDIA A100 SXM",
        # A100 SXM4: INT8 1,248 TOPS (sparse), BF16 624 TF (sparse), TF32 312 TF (sparse); 400 W;
        # INT4 2,496 TOPS (sparse) in the A100 whitepaper (Table 1).
        densest_flops=2496 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=312 * _T,
        least_tensor_flops=156 * _T,
        board_power_w=400.0,
        source="NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100), A100 SXM column",
        patterns=(r"\ba100\b", r"\ba800\b"),
    ),
    AcceleratorPeak(
        model="NVIDIA L40S",
        # L40S: FP8 / INT8 1,466 TFLOPS/TOPS (sparse), BF16 733 TF (sparse), TF32 366 TF (sparse); 350 W.
        densest_flops=1466 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=366.5 * _T,
        least_tensor_flops=183 * _T,
        board_power_w=350.0,
        source="NVIDIA L40S GPU datasheet (nvidia.com/en-us/data-center/l40s)",
        patterns=(r"\bl40s\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA L20",
        # L20 (Ada AD102, 11,776 CUDA cores at a 2,520-MHz boost, 48 GB, 275 W; a China part): no
        # NVIDIA datasheet is public. FP32 59.35 TF from its cores and clock (spec databases:
        # technical.city/en/video/L20); the tensor figures by Ada's ratios to FP32 (peaks._RATIOS
        # "Ada": the L40 datasheet's BF16 2× and TF32 1×, and the larger INT4 sparse ratio of the
        # two Ada columns, the RTX 4090's 32× to the L40's 16×, so that the bound holds).
        densest_flops=32 * 59.35 * _T,
        densest_format="INT4 sparse (Ada ratio)",
        dense_bf16_flops=2 * 59.35 * _T,
        least_tensor_flops=59.35 * _T,
        board_power_w=275.0,
        source="reported L20 specifications (no NVIDIA datasheet): FP32 by its cores and clock, Ada's ratios",
        patterns=(r"\bl20\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA L40",
        # L40: FP8 / INT8 724 TFLOPS/TOPS (sparse), INT4 1,448 TOPS (sparse), BF16 362.1 TF
        # (sparse) → 181 dense, TF32 181 TF (sparse) → 90.5 dense; 300 W.
        densest_flops=1448 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=181 * _T,
        least_tensor_flops=90.5 * _T,
        board_power_w=300.0,
        source="NVIDIA L40 GPU datasheet (nvidia.com/en-us/data-center/l40)",
        patterns=(r"\bl40\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA A40",
        # A40: INT4 1,197.4 TOPS (sparse), INT8 598.6 TOPS (sparse), FP16/BF16 299.4 TF (sparse)
        # → 149.7 dense, TF32 149.6 TF (sparse) → 74.8 dense; 300 W.
        densest_flops=1197.4 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=149.7 * _T,
        least_tensor_flops=74.8 * _T,
        board_power_w=300.0,
        source="NVIDIA A40 GPU datasheet (nvidia.com/en-us/data-center/a40)",
        patterns=(r"\ba40\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA A30",
        # A30: INT4 1,321 TOPS (sparse), INT8 661 TOPS (sparse), BF16 330 TF (sparse) → 165 dense,
        # TF32 165 TF (sparse) → 82 dense; 165 W.
        densest_flops=1321 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=165 * _T,
        least_tensor_flops=82 * _T,
        board_power_w=165.0,
        source="NVIDIA A30 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/products/a30-gpu)",
        patterns=(r"\ba30\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA L4",
        # L4: FP8 / INT8 485 TFLOPS/TOPS (sparse), BF16 242 TF (sparse), TF32 120 TF (sparse); 72 W.
        densest_flops=485 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=121 * _T,
        least_tensor_flops=60 * _T,
        board_power_w=72.0,
        source="NVIDIA L4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/l4)",
        patterns=(r"\bl4\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA A2",
        # A2 (Ampere GA107): INT4 144 TOPS (sparse), INT8 72 TOPS (sparse), BF16 36 TF (sparse)
        # → 18 dense, TF32 18 TF (sparse) → 9 dense; 40–60 W configurable: 60 W.
        densest_flops=144 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=18 * _T,
        least_tensor_flops=9 * _T,
        board_power_w=60.0,
        source="NVIDIA A2 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/products/a2)",
        patterns=(r"\ba2\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA A10 / A10G",
        # A10: INT8 500 TOPS (sparse), BF16 250 TF (sparse), TF32 125 TF (sparse); 150 W. AWS's
        # A10G has no public datasheet; it is an A10-class GA102 part run at up to 300 W (its
        # nvidia-smi power limit), so the A10 figures are used with the 300 W board power.
        densest_flops=500 * _T,
        densest_format="INT8 sparse",
        dense_bf16_flops=125 * _T,
        least_tensor_flops=62.5 * _T,
        board_power_w=300.0,
        source="NVIDIA A10 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/products/a10-gpu)",
        patterns=(r"\ba10g?\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA T4",
        # T4 (Turing, no sparsity): INT4 260 TOPS, INT8 130 TOPS, FP16 mixed 65 TF; no TF32; 70 W.
        densest_flops=260 * _T,
        densest_format="INT4 dense",
        dense_bf16_flops=65 * _T,
        least_tensor_flops=65 * _T,
        board_power_w=70.0,
        source="NVIDIA T4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/tesla-t4)",
        patterns=(r"\bt4\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA V100S PCIe",
        # V100S PCIe (Volta: FP16 tensor cores only, no sparsity, no BF16/TF32): 130 TF; 250 W.
        densest_flops=130 * _T,
        densest_format="FP16 dense",
        dense_bf16_flops=130 * _T,
        least_tensor_flops=130 * _T,
        board_power_w=250.0,
        source="NVIDIA V100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/v100), V100S PCIe column",
        patterns=(r"\bv100s\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA V100 PCIe",
        # V100 PCIe: FP16 tensor 112 TF; 250 W.
        densest_flops=112 * _T,
        densest_format="FP16 dense",
        dense_bf16_flops=112 * _T,
        least_tensor_flops=112 * _T,
        board_power_w=250.0,
        source="NVIDIA V100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/v100), V100 PCIe column",
        patterns=(r"\bv100\b.*\bpcie\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA V100 SXM2",
        # V100 SXM2 ("Tesla V100-SXM2-32GB"): FP16 tensor 125 TF; 300 W.
        densest_flops=125 * _T,
        densest_format="FP16 dense",
        dense_bf16_flops=125 * _T,
        least_tensor_flops=125 * _T,
        board_power_w=300.0,
        source="NVIDIA V100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/v100), V100 SXM2 column",
        patterns=(r"\bv100\b",),
    ),
    _by_ratio("NVIDIA GeForce RTX 3090 Ti", "Ampere", 40.0, 450.0, r"\brtx 3090 ti\b"),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 3090",
        # RTX 3090 (Ampere GA102, consumer): INT4 1,136 TOPS (sparse), INT8 568 TOPS (sparse),
        # FP16/BF16 with FP32 accumulate 142 TF (sparse) → 71 dense, TF32 71 TF (sparse) → 35.6
        # dense; 350 W TGP.
        densest_flops=1136 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=71 * _T,
        least_tensor_flops=35.6 * _T,
        board_power_w=350.0,
        source="NVIDIA Ampere GA102 GPU architecture whitepaper (v2.1), GeForce RTX 3090 column",
        patterns=(r"\brtx 3090\b",),
    ),
    _by_ratio("NVIDIA GeForce RTX 4090 D", "Ada", 73.5, 425.0, r"\brtx 4090 d\b"),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 4090",
        # RTX 4090 (Ada, consumer): INT4 2,642.4 TOPS (sparse), FP8 1,321.2 TF (sparse, FP16
        # accumulate), BF16/FP16 with FP32 accumulate 165.2 TF dense, TF32 82.6 TF dense; 450 W TBP.
        densest_flops=2642.4 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=165.2 * _T,
        least_tensor_flops=82.6 * _T,
        board_power_w=450.0,
        source="NVIDIA Ada Lovelace GPU architecture whitepaper (v2.1), GeForce RTX 4090 column",
        patterns=(r"\brtx 4090\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 5090",
        # RTX 5090 (Blackwell, consumer): "AI TOPS" 3,352 (FP4 sparse); FP32 104.8 TF. The dense
        # BF16 (FP32 accumulate) and TF32 figures are the RTX 4090's ratios to FP32 (2× and 1×:
        # 209.6 and 104.8 TF); 575 W TGP.
        densest_flops=3352 * _T,
        densest_format="FP4 sparse",
        dense_bf16_flops=209.6 * _T,
        least_tensor_flops=104.8 * _T,
        board_power_w=575.0,
        source=(
            "NVIDIA GeForce RTX 5090 specifications "
            "(nvidia.com/en-us/geforce/graphics-cards/50-series/rtx-5090)"
        ),
        patterns=(r"\brtx 5090\b",),
    ),
    _by_ratio("NVIDIA GeForce RTX 4080 SUPER", "Ada", 52.2, 320.0, r"\brtx 4080 super\b"),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 4080",
        # RTX 4080 (Ada AD103): INT4 1,559.2 TOPS (sparse), FP8 779.8 TF (sparse), BF16 with FP32
        # accumulate 97.5 TF dense, TF32 48.7 TF dense; 320 W TGP.
        densest_flops=1559.2 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=97.5 * _T,
        least_tensor_flops=48.7 * _T,
        board_power_w=320.0,
        source="NVIDIA Ada Lovelace GPU architecture whitepaper (v2.1), GeForce RTX 4080 column",
        patterns=(r"\brtx 4080\b",),
    ),
    _by_ratio("NVIDIA GeForce RTX 3080 Ti", "Ampere", 34.1, 350.0, r"\brtx 3080 ti\b"),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 3080",
        # RTX 3080 (Ampere GA102): INT4 952 TOPS (sparse), INT8 476 (sparse), BF16 with FP32
        # accumulate 119 TF (sparse) → 59.5 dense, TF32 59.5 (sparse) → 29.8 dense; 320 W TGP.
        densest_flops=952 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=59.5 * _T,
        least_tensor_flops=29.8 * _T,
        board_power_w=320.0,
        source="NVIDIA Ampere GA102 GPU architecture whitepaper (v2.1), GeForce RTX 3080 column",
        patterns=(r"\brtx 3080\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA GeForce RTX 2080 Ti",
        # RTX 2080 Ti (Turing TU102), Founders Edition (the higher clock): INT4 455.4 TOPS, INT8
        # 227.7, FP16 tensor 113.8 TF (FP16 accumulate) and 56.9 (FP32 accumulate); no BF16,
        # TF32 or sparsity; 260 W TGP.
        densest_flops=455.4 * _T,
        densest_format="INT4 dense",
        dense_bf16_flops=56.9 * _T,
        least_tensor_flops=56.9 * _T,
        board_power_w=260.0,
        source="NVIDIA Turing GPU architecture whitepaper, GeForce RTX 2080 Ti Founders Edition column",
        patterns=(r"\b2080 ti\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA TITAN RTX",
        # TITAN RTX (Turing TU102): INT4 522 TOPS, INT8 261, FP16 tensor 130.5 TF (FP32
        # accumulate at full rate); 280 W.
        densest_flops=522 * _T,
        densest_format="INT4 dense",
        dense_bf16_flops=130.5 * _T,
        least_tensor_flops=130.5 * _T,
        board_power_w=280.0,
        source=(
            "NVIDIA Turing GPU architecture whitepaper, TITAN RTX column;"
            " nvidia.com/en-us/deep-learning-ai/products/titan-rtx"
        ),
        patterns=(r"\btitan rtx\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA TITAN V CEO Edition",
        # TITAN V 32 GB "CEO Edition" (nvidia-smi: "NVIDIA TITAN V JHH Special Edition"): 125 TF
        # FP16 tensor, as NVIDIA announced it (June 2018); 250 W.
        densest_flops=125 * _T,
        densest_format="FP16 dense",
        dense_bf16_flops=125 * _T,
        least_tensor_flops=110 * _T,  # the 12-GB part's: a lower bound stays one
        board_power_w=250.0,
        source="NVIDIA TITAN V CEO Edition announcement (CVPR, June 2018)",
        patterns=(r"\btitan v\b.*\b(jhh|ceo)\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA TITAN V",
        # TITAN V (Volta GV100): 110 TF FP16 tensor ("deep learning"); FP32 14.9 TF; 250 W.
        densest_flops=110 * _T,
        densest_format="FP16 dense",
        dense_bf16_flops=110 * _T,
        least_tensor_flops=110 * _T,
        board_power_w=250.0,
        source="NVIDIA TITAN V specifications (nvidia.com/en-us/titan/titan-v)",
        patterns=(r"\btitan v\b",),
    ),
    _by_ratio("NVIDIA TITAN Xp", "Pascal", 12.1, 250.0, r"\btitan xp\b"),
    _TITAN_X_MAXWELL,
    _TITAN_X_PASCAL,
    _either("NVIDIA TITAN X (unqualified)", r"\btitan x\b", _TITAN_X_PASCAL, _TITAN_X_MAXWELL),
    _by_ratio("NVIDIA GeForce GTX 1080 Ti", "Pascal", 11.3, 250.0, r"\b1080 ti\b"),
    # the Workstation Edition only: the Server and Max-Q editions (the same GB202 with 188 SMs,
    # at other clocks and powers) have no figures of their own here, so they stay unknown; the
    # Max-Q's name is read as a laptop part (``_MOBILE``) in any case
    _by_ratio(
        "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
        "Blackwell professional",
        125.0,
        600.0,
        r"\brtx pro 6000 blackwell workstation\b",
    ),
    _RTX_6000_ADA,
    _QUADRO_RTX_8000,
    _either("NVIDIA RTX 6000 (unqualified)", r"\brtx 6000\b", _RTX_6000_ADA, _QUADRO_RTX_8000),
    AcceleratorPeak(
        model="NVIDIA RTX A6000",
        # RTX A6000 (Ampere GA102, professional): tensor 309.7 TF (FP16 sparse); FP32 38.7 TF;
        # Ampere's tensor ratios (A100 and A40 columns) give BF16 154.8 TF dense, TF32 77.4
        # dense, INT4 4× FP16: 1,238.6 TOPS (sparse); 300 W.
        densest_flops=1238.6 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=154.8 * _T,
        least_tensor_flops=77.4 * _T,
        board_power_w=300.0,
        source="NVIDIA RTX A6000 datasheet (nvidia.com/en-us/design-visualization/rtx-a6000)",
        patterns=(r"\brtx a6000\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA RTX A5000",
        # RTX A5000 (GA102): tensor 222.2 TF (FP16 sparse); FP32 27.8 TF; as the A6000: BF16
        # 111.1 dense, TF32 55.6 dense, INT4 888.8 TOPS (sparse); 230 W.
        densest_flops=888.8 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=111.1 * _T,
        least_tensor_flops=55.6 * _T,
        board_power_w=230.0,
        source="NVIDIA RTX A5000 datasheet (nvidia.com/en-us/design-visualization/rtx-a5000)",
        patterns=(r"\brtx a5000\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA RTX A4000",
        # RTX A4000 (GA104): tensor 153.4 TF (FP16 sparse); FP32 19.2 TF; as the A6000: BF16
        # 76.7 dense, TF32 38.4 dense, INT4 613.6 TOPS (sparse); 140 W.
        densest_flops=613.6 * _T,
        densest_format="INT4 sparse",
        dense_bf16_flops=76.7 * _T,
        least_tensor_flops=38.4 * _T,
        board_power_w=140.0,
        source="NVIDIA RTX A4000 datasheet (nvidia.com/en-us/design-visualization/rtx-a4000)",
        patterns=(r"\brtx a4000\b",),
    ),
    AcceleratorPeak(
        model="NVIDIA P100 PCIe",
        # Tesla P100 PCIe (Pascal GP100, no tensor cores): FP16 18.7 TF, FP32 9.3; 250 W.
        densest_flops=18.7 * _T,
        densest_format="FP16",
        dense_bf16_flops=18.7 * _T,
        least_tensor_flops=9.3 * _T,
        board_power_w=250.0,
        source="NVIDIA Tesla P100 datasheet (nvidia.com/en-us/data-center/tesla-p100), PCIe column",
        patterns=(r"\bp100\b.*\bpcie\b",),
        tensor_units=False,
    ),
    AcceleratorPeak(
        model="NVIDIA P100 SXM2",
        # Tesla P100 for NVLink servers (SXM2): FP16 21.2 TF, FP32 10.6; 300 W.
        densest_flops=21.2 * _T,
        densest_format="FP16",
        dense_bf16_flops=21.2 * _T,
        least_tensor_flops=10.6 * _T,
        board_power_w=300.0,
        source="NVIDIA Tesla P100 datasheet (nvidia.com/en-us/data-center/tesla-p100), NVLink column",
        patterns=(r"\bp100\b",),
        tensor_units=False,
    ),
    AcceleratorPeak(
        model="NVIDIA P40",
        # Tesla P40 (Pascal GP102): INT8 47 TOPS, FP32 12 TF; no tensor cores; 250 W.
        densest_flops=47 * _T,
        densest_format="INT8 (DP4A)",
        dense_bf16_flops=12 * _T,
        least_tensor_flops=12 * _T,
        board_power_w=250.0,
        source="NVIDIA Tesla P40 datasheet (nvidia.com/en-us/data-center/tesla-p40)",
        patterns=(r"\bp40\b",),
        tensor_units=False,
    ),
    AcceleratorPeak(
        model="NVIDIA P4",
        # Tesla P4 (Pascal GP104): INT8 22 TOPS, FP32 5.5 TF; 75 W (its higher setting).
        densest_flops=22 * _T,
        densest_format="INT8 (DP4A)",
        dense_bf16_flops=5.5 * _T,
        least_tensor_flops=5.5 * _T,
        board_power_w=75.0,
        source="NVIDIA Tesla P4 datasheet (nvidia.com/en-us/data-center/tesla-p4)",
        patterns=(r"\bp4\b",),
        tensor_units=False,
    ),
    # (model, architecture, FP32 TF at boost, board W): shader rates from NVIDIA's spec pages
    _by_ratio("NVIDIA GeForce RTX 4070 Ti SUPER", "Ada", 44.1, 285.0, r"\brtx 4070 ti super\b"),
    _by_ratio("NVIDIA GeForce RTX 4070 Ti", "Ada", 40.1, 285.0, r"\brtx 4070 ti\b"),
    _by_ratio("NVIDIA GeForce RTX 4070 SUPER", "Ada", 35.5, 220.0, r"\brtx 4070 super\b"),
    _by_ratio("NVIDIA GeForce RTX 4070", "Ada", 29.1, 200.0, r"\brtx 4070\b"),
    _by_ratio("NVIDIA GeForce RTX 4060 Ti", "Ada", 22.1, 165.0, r"\brtx 4060 ti\b"),
    _by_ratio("NVIDIA GeForce RTX 4060", "Ada", 15.1, 115.0, r"\brtx 4060\b"),
    _by_ratio("NVIDIA GeForce RTX 3070 Ti", "Ampere", 21.7, 290.0, r"\brtx 3070 ti\b"),
    _by_ratio("NVIDIA GeForce RTX 3070", "Ampere", 20.3, 220.0, r"\brtx 3070\b"),
    _by_ratio("NVIDIA GeForce RTX 3060 Ti", "Ampere", 16.2, 200.0, r"\brtx 3060 ti\b"),
    _by_ratio("NVIDIA GeForce RTX 3060", "Ampere", 12.7, 170.0, r"\brtx 3060\b"),
    _by_ratio("NVIDIA GeForce RTX 2080 SUPER", "Turing", 11.2, 250.0, r"\brtx 2080 super\b"),
    _by_ratio("NVIDIA GeForce RTX 2080", "Turing", 10.6, 225.0, r"\brtx 2080\b"),
    _by_ratio("NVIDIA GeForce RTX 2070 SUPER", "Turing", 9.1, 215.0, r"\brtx 2070 super\b"),
    _by_ratio("NVIDIA GeForce RTX 2070", "Turing", 7.9, 185.0, r"\brtx 2070\b"),
    _by_ratio("NVIDIA GeForce GTX 1080", "Pascal", 8.9, 180.0, r"\bgtx 1080\b"),
    _by_ratio("NVIDIA GeForce GTX 1070 Ti", "Pascal", 8.2, 180.0, r"\bgtx 1070 ti\b"),
    _by_ratio("NVIDIA GeForce RTX 3050", "Ampere", 9.1, 130.0, r"\brtx 3050\b"),
    _by_ratio("NVIDIA GeForce RTX 2060 SUPER", "Turing", 7.2, 175.0, r"\brtx 2060 super\b"),
    _by_ratio("NVIDIA GeForce RTX 2060", "Turing", 6.5, 160.0, r"\brtx 2060\b"),
    _by_ratio("NVIDIA RTX 5000 Ada Generation", "Ada professional", 65.3, 250.0, r"\brtx 5000 ada\b"),
    _by_ratio("NVIDIA RTX 4000 Ada Generation", "Ada professional", 26.7, 130.0, r"\brtx 4000 ada\b"),
    _by_ratio("NVIDIA RTX A5500", "Ampere professional", 34.1, 230.0, r"\brtx a5500\b"),
    _by_ratio("NVIDIA RTX A4500", "Ampere professional", 23.7, 200.0, r"\brtx a4500\b"),
    _by_ratio("NVIDIA Quadro RTX 5000", "Turing professional", 11.2, 230.0, r"\bquadro rtx 5000\b"),
    _by_ratio("NVIDIA Quadro RTX 4000", "Turing professional", 7.1, 160.0, r"\bquadro rtx 4000\b"),
    # the notebook GTX 1070 reports the same name with 2,048 cores at 1.645 GHz (6.7 TF, above the
    # desktop part's 6.5): its figure, so that the bound holds for both
    _by_ratio("NVIDIA GeForce GTX 1070", "Pascal", 6.8, 150.0, r"\bgtx 1070\b"),
    AcceleratorPeak(
        model="AMD Instinct MI355X",
        # MI355X (CDNA 4, OAM, liquid-cooled): MXFP4/MXFP6 20.1 PFLOPS with structured sparsity
        # (10.1 dense), FP8 10.1 PF (sparse) / 5.0 dense, FP16/BF16 2.5 PF dense, FP32 matrix
        # 157.3 TF (no TF32 in hardware on CDNA 4: FP32 matrix is the lower bound's format);
        # 1,400 W TBP.
        densest_flops=20.1 * _P,
        densest_format="MXFP4/MXFP6 sparse",
        dense_bf16_flops=2.5 * _P,
        least_tensor_flops=157.3 * _T,
        board_power_w=1400.0,
        source=(
            "AMD Instinct MI355X GPU specifications"
            " (amd.com/en/products/accelerators/instinct/mi350/mi355x)"
        ),
        patterns=(r"\bmi355x\b",),
    ),
    AcceleratorPeak(
        model="AMD Instinct MI350X",
        # MI350X (CDNA 4, OAM, air-cooled, lower clocks): MXFP4/MXFP6 18.45 PFLOPS with
        # structured sparsity, FP16/BF16 2.3 PF dense (2,306.9 TF), FP32 matrix 144.2 TF; 1,000 W TBP.
        densest_flops=18.45 * _P,
        densest_format="MXFP4/MXFP6 sparse",
        dense_bf16_flops=2306.9 * _T,
        least_tensor_flops=144.2 * _T,
        board_power_w=1000.0,
        source=(
            "AMD Instinct MI350X GPU specifications"
            " (amd.com/en/products/accelerators/instinct/mi350/mi350x)"
        ),
        patterns=(r"\bmi350x\b",),
    ),
    AcceleratorPeak(
        model="AMD Instinct MI325X",
        # MI325X: FP8 / INT8 5,229.8 TFLOPS/TOPS (sparse), BF16 1,307.4 TF dense, TF32 653.7 TF
        # dense (the MI300X's compute, with more memory); 1,000 W.
        densest_flops=5229.8 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=1307.4 * _T,
        least_tensor_flops=653.7 * _T,
        board_power_w=1000.0,
        source=(
            "AMD Instinct MI325X accelerator data sheet"
            " (amd.com/en/products/accelerators/instinct/mi300/mi325x)"
        ),
        patterns=(r"\bmi325x\b",),
    ),
    AcceleratorPeak(
        model="AMD Instinct MI300X",
        # MI300X: FP8 / INT8 5,229.8 TFLOPS/TOPS (sparse), BF16 1,307.4 TF dense, TF32 653.7 TF
        # dense; 750 W.
        densest_flops=5229.8 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=1307.4 * _T,
        least_tensor_flops=653.7 * _T,
        board_power_w=750.0,
        source=(
            "AMD Instinct MI300X accelerator data sheet"
            " (amd.com/en/products/accelerators/instinct/mi300/mi300x)"
        ),
        patterns=(r"\bmi300x\b",),
    ),
    AcceleratorPeak(
        model="AMD Instinct MI300A",
        # MI300A APU (CDNA 3, 228 CUs, with 24 Zen 4 cores): FP8 / INT8 3,922.3 TFLOPS/TOPS
        # (sparse), FP16/BF16 980.6 TF dense, TF32 490.3 TF dense; 550 W TDP, 760 W peak (the
        # maximum is taken; the package's power includes its CPU cores).
        densest_flops=3922.3 * _T,
        densest_format="FP8/INT8 sparse",
        dense_bf16_flops=980.6 * _T,
        least_tensor_flops=490.3 * _T,
        board_power_w=760.0,
        source=(
            "AMD Instinct MI300A APU data sheet"
            " (amd.com/en/products/accelerators/instinct/mi300/mi300a)"
        ),
        patterns=(r"\bmi300a\b",),
    ),
    _MI250X_OR_MI250,
    _MI250X,
    _MI250,
    AcceleratorPeak(
        model="AMD Instinct MI210",
        # MI210 (PCIe): FP16 / BF16 / INT8 181 TFLOPS/TOPS dense (no sparsity); FP32 matrix 45.3 TF;
        # 300 W.
        densest_flops=181 * _T,
        densest_format="FP16/BF16/INT8 dense",
        dense_bf16_flops=181 * _T,
        least_tensor_flops=45.3 * _T,
        board_power_w=300.0,
        source=(
            "AMD Instinct MI210 accelerator data sheet"
            " (amd.com/en/products/accelerators/instinct/mi200/mi210)"
        ),
        patterns=(r"\bmi210\b",),
    ),
    AcceleratorPeak(
        model="AMD Instinct MI100",
        # MI100: FP16 / INT8 184.6 TFLOPS/TOPS, BF16 92.3 TF, FP32 matrix 46.1 TF; 300 W.
        densest_flops=184.6 * _T,
        densest_format="FP16/INT8 dense",
        dense_bf16_flops=92.3 * _T,
        least_tensor_flops=46.1 * _T,
        board_power_w=300.0,
        source="AMD Instinct MI100 accelerator data sheet (amd.com/en/products/accelerators/instinct/mi100)",
        patterns=(r"\bmi100\b",),
    ),
)

# The most memory (GiB, as the vendors quote it: HBM and GDDR sizes are binary) any board of each
# part carries, from the same datasheets and spec pages as its figures. NVML, DCGM and rocm-smi
# report a little less than the quoted size (an H100 80GB: 79.6 GiB; an H200: 140.4; an MI300X:
# 191.98), never more. Where one name covers several boards the largest counts (A100 40/80 GB,
# V100 16/32, GH200 96/144, the B200 180/192, the H20 96 or 141). GeForce and TITAN cards are sold
# refitted with twice their memory (2080 Ti 22 GB, 3080 20 GB, 4090 48 GB): their entries allow
# twice their largest board, which still puts a data-centre part's memory beyond most of them.
# A part missing here is checked for nothing.
_GEFORCE_REFIT: Final = 2.0
MEMORY_GIB: Final[dict[str, float]] = {
    "NVIDIA GB300": 288,
    "NVIDIA B300": 288,
    "NVIDIA GB200": 192,
    "NVIDIA B100": 192,
    "NVIDIA B200": 192,
    "NVIDIA GH200": 144,
    "NVIDIA H200 NVL": 141,
    "NVIDIA H200 SXM": 141,
    "NVIDIA H100 NVL": 94,
    "NVIDIA H100 PCIe": 80,
    "NVIDIA H100 SXM": 96,
    "NVIDIA H20": 141,
    "NVIDIA A100 PCIe": 80,
    "NVIDIA A100 SXM": 80,
    "NVIDIA L40S": 48,
    "NVIDIA L20": 48,
    "NVIDIA L40": 48,
    "NVIDIA A40": 48,
    "NVIDIA A30": 24,
    "NVIDIA L4": 24,
    "NVIDIA A2": 16,
    "NVIDIA A10 / A10G": 24,
    "NVIDIA T4": 16,
    "NVIDIA V100S PCIe": 32,
    "NVIDIA V100 PCIe": 32,
    "NVIDIA V100 SXM2": 32,
    "NVIDIA P100 PCIe": 16,
    "NVIDIA P100 SXM2": 16,
    "NVIDIA P40": 24,
    "NVIDIA P4": 8,
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition": 96,
    "NVIDIA RTX 6000 Ada Generation": 48,
    "NVIDIA Quadro RTX 8000 / 6000": 48,
    "NVIDIA RTX A6000": 48,
    "NVIDIA RTX A5000": 24,
    "NVIDIA RTX A4000": 16,
    "NVIDIA RTX 5000 Ada Generation": 32,
    "NVIDIA RTX 4000 Ada Generation": 20,
    "NVIDIA RTX A5500": 24,
    "NVIDIA RTX A4500": 20,
    "NVIDIA Quadro RTX 5000": 16,
    "NVIDIA Quadro RTX 4000": 8,
    "AMD Instinct MI355X": 288,
    "AMD Instinct MI350X": 288,
    "AMD Instinct MI325X": 256,
    "AMD Instinct MI300X": 192,
    "AMD Instinct MI300A": 128,
    "AMD Instinct MI250X": 128,
    "AMD Instinct MI250": 128,
    "AMD Instinct MI210": 64,
    "AMD Instinct MI100": 32,
} | {
    model: _GEFORCE_REFIT * gib
    for model, gib in {
        "NVIDIA GeForce RTX 3090 Ti": 24,
        "NVIDIA GeForce RTX 3090": 24,
        "NVIDIA GeForce RTX 4090 D": 24,
        "NVIDIA GeForce RTX 4090": 24,
        "NVIDIA GeForce RTX 5090": 32,
        "NVIDIA GeForce RTX 4080 SUPER": 16,
        "NVIDIA GeForce RTX 4080": 16,
        "NVIDIA GeForce RTX 3080 Ti": 12,
        "NVIDIA GeForce RTX 3080": 12,
        "NVIDIA GeForce RTX 2080 Ti": 11,
        "NVIDIA TITAN RTX": 24,
        "NVIDIA TITAN V CEO Edition": 32,
        "NVIDIA TITAN V": 12,
        "NVIDIA TITAN Xp": 12,
        "NVIDIA GeForce GTX TITAN X (Maxwell)": 12,
        "NVIDIA TITAN X (Pascal)": 12,
        "NVIDIA GeForce GTX 1080 Ti": 11,
        "NVIDIA GeForce RTX 4070 Ti SUPER": 16,
        "NVIDIA GeForce RTX 4070 Ti": 12,
        "NVIDIA GeForce RTX 4070 SUPER": 12,
        "NVIDIA GeForce RTX 4070": 12,
        "NVIDIA GeForce RTX 4060 Ti": 16,
        "NVIDIA GeForce RTX 4060": 8,
        "NVIDIA GeForce RTX 3070 Ti": 8,
        "NVIDIA GeForce RTX 3070": 8,
        "NVIDIA GeForce RTX 3060 Ti": 8,
        "NVIDIA GeForce RTX 3060": 12,
        "NVIDIA GeForce RTX 2080 SUPER": 8,
        "NVIDIA GeForce RTX 2080": 8,
        "NVIDIA GeForce RTX 2070 SUPER": 8,
        "NVIDIA GeForce RTX 2070": 8,
        "NVIDIA GeForce GTX 1080": 8,
        "NVIDIA GeForce GTX 1070 Ti": 8,
        "NVIDIA GeForce RTX 3050": 8,
        "NVIDIA GeForce RTX 2060 SUPER": 8,
        "NVIDIA GeForce RTX 2060": 12,
        "NVIDIA GeForce GTX 1070": 8,
    }.items()
}


def _with_memory(p: AcceleratorPeak) -> AcceleratorPeak:
    # a shared name: the largest of its parts'
    return replace(p, memory_gib=_largest([MEMORY_GIB.get(m) for m in (p.parts or (p.model,))]))


PEAKS: Final[tuple[AcceleratorPeak, ...]] = tuple(_with_memory(p) for p in _PEAKS)

# Any part at all (``either`` of the table): the largest upper figures, the densest raised to the
# table's best FLOP/s per W at its largest board, so that the compute fold's energy bound
# (energy × densest / (floor × board)) holds too once the largest board (the 1,400-W MI355X and
# GB300) is not the most efficient part (the B100: 14 PF at 700 W, 20 TFLOP/s per W, to the
# MI355X's 14.4); and no lower bound.
UNKNOWN_MODEL_PEAK: Final = replace(
    either("unknown", *PEAKS),
    least_tensor_flops=0.0,  # no lower bound can be claimed for an unknown part
    source="no entry: the largest figures of the table, so that bounds stay bounds",
    parts=(),
    memory_gib=None,  # a part the table lacks may carry any amount
)

# A device that draws more than this times its model's board power is not that model: a red
# team, 2026-12-06, reported eight training H100s (474 W on average) as "NVIDIA T4" (70 W), and
# every power ratio of the classifier, taken against the T4's board, read far above compute, no
# stall below it: the training fleet was INCONCLUSIVE, never VIOLATION, and its compute was
# bounded by the T4's peak. Real boards stay inside it (NVML's one-second average: an A100 SXM
# batch job at most 429 W of 400, the 8×H100 training traces 603 W of 700, ``../shared/data``);
# the plausibility fold's "power above 125 % of the board limit" is the same bound.
BOARD_OVERDRAW: Final = 1.25


@functools.lru_cache(maxsize=64)
def overdrawn_peak(claimed: AcceleratorPeak) -> AcceleratorPeak:
    """The figures a device whose values contradict ``claimed`` (``contradicted``: it drew more
    than that model can, or did tensor work it has no units for) is bounded with: the table's
    largest, as an unknown part's, except the lower bound, which stays the claimed
    model's. The lab's own claim sets the least it computed: an unknown part's lower bound is
    none, and a training fleet reported as T4s under a compute cap, whose T4 lower bound had
    exceeded the cap in 7 hours, was never VIOLATION once judged unknown (a red team,
    2026-12-06)."""
    return replace(
        UNKNOWN_MODEL_PEAK,
        least_tensor_flops=claimed.least_tensor_flops,
        source=f"not {claimed.model}, its values say: the table's largest, that model's lower bound",
    )


def overdrawn(peak: AcceleratorPeak, drawn_w: float) -> bool:
    """Whether a device that drew ``drawn_w`` (its highest sampled power, or its mean) cannot be
    the model ``peak`` is of (``BOARD_OVERDRAW``): its peak figures are then not its own."""
    return drawn_w > BOARD_OVERDRAW * peak.board_power_w


# Tensor-pipe activity above this on a part without tensor units contradicts its name (DCGM
# reports none for Pascal or Maxwell: the profiling metrics start with Volta).
TENSORLESS_MAX: Final = 0.02


def tensor_without_units(peak: AcceleratorPeak, tensor_active: float | None) -> bool:
    """Whether a device reported tensor-pipe work (``TENSORLESS_MAX``) that the model ``peak`` is
    of has no units for (a red team, 2026-12-06: training H100s capped at 300 W and named a P100
    or a TITAN X stayed under 125 % of its 250-W board, and their compute was bounded by its FP16
    figures: COMPLIANT under a compute cap the H100 name breaks). A source that leaves the field
    out, as a real P100's does, contradicts nothing."""
    return not peak.tensor_units and tensor_active is not None and tensor_active > TENSORLESS_MAX


# Memory reported beyond this times the part's largest board (``MEMORY_GIB``) contradicts the
# name; the margin covers a vendor's decimal gigabytes and rounding.
MEMORY_MARGIN: Final = 1.05


def memory_beyond(peak: AcceleratorPeak, memory_bytes: float | None) -> bool:
    """Whether a device that reported ``memory_bytes`` (the larger of its memory used and its
    total) holds more memory than any board of the model ``peak`` is of carries (a red team,
    2026-12-06: eight training H100s named P100s, their tensor field left out, were bounded by
    the P100's figures under a compute cap; they held 62 GiB each, and a P100 carries 16). A
    source that reports no memory contradicts nothing."""
    cap = peak.memory_gib
    return cap is not None and memory_bytes is not None and memory_bytes > MEMORY_MARGIN * cap * 2**30


def contradiction(
    peak: AcceleratorPeak, drawn_w: float, tensor_active: float | None, memory_bytes: float | None = None
) -> str | None:
    """Which of a device's values says it is not the model ``peak`` is of, first found: it drew
    more than that model can (``"power"``, ``overdrawn``), did tensor work it has no units for
    (``"tensor"``, ``tensor_without_units``), or held more memory than it carries (``"memory"``,
    ``memory_beyond``); None where nothing does."""
    if overdrawn(peak, drawn_w):
        return "power"
    if tensor_without_units(peak, tensor_active):
        return "tensor"
    if memory_beyond(peak, memory_bytes):
        return "memory"
    return None


def contradicted(
    peak: AcceleratorPeak, drawn_w: float, tensor_active: float | None, memory_bytes: float | None = None
) -> bool:
    """Whether a device's values say it is not the model ``peak`` is of (``contradiction``)."""
    return contradiction(peak, drawn_w, tensor_active, memory_bytes) is not None


_COMPILED: Final = tuple((p, tuple(re.compile(x) for x in p.patterns)) for p in PEAKS)


def _normalise(name: str) -> str:
    # "NVIDIA A100-SXM4-80GB" → "nvidia a100 sxm4 80gb"; "AMD Instinct MI300X OAM" likewise.
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())


def lookup_peak(model_name: str, table: Sequence[AcceleratorPeak] = PEAKS) -> AcceleratorPeak | None:
    """The entry whose patterns match ``model_name`` (first match in table order), or None."""
    if table is PEAKS:
        return _lookup_default(model_name)
    return _lookup(model_name, table)


@functools.lru_cache(maxsize=1024)
def _lookup_default(model_name: str) -> AcceleratorPeak | None:
    return _lookup(model_name, PEAKS)


# Laptop parts share their desktop namesakes' names with fewer cores or lower clocks, or more
# (the RTX 3060 Laptop GPU: 3,840 cores to the desktop's 3,584): none is read as its desktop
# part, whose lower bound would overstate it and whose upper bound may not hold.
_MOBILE: Final = re.compile(r"\b(laptop|mobile|notebook|max q)\b")


def is_laptop_part(model_name: str) -> bool:
    """Whether ``model_name`` names a laptop part (``_MOBILE``), which the table never holds."""
    return bool(_MOBILE.search(_normalise(model_name)))


@functools.lru_cache(maxsize=256)
def same_part(declared: str, reported: str) -> bool:
    """Whether two model names (an inventory's and a device's) name one part: the same entry
    of the table, or a name several parts share and one of them (rocm's "AMD Instinct MI250X /
    MI250" and "MI250X"), or, where the table holds neither, the same name once case and
    punctuation are set aside ("NVIDIA A100-SXM4-80GB" and "A100 SXM" agree; "NVIDIA GB300"
    and "NVIDIA B300" do not)."""
    a, b = lookup_peak(declared), lookup_peak(reported)
    if a is None or b is None:
        return a is b and _normalise(declared) == _normalise(reported)
    return a is b or a.model in b.parts or b.model in a.parts


def _lookup(model_name: str, table: Sequence[AcceleratorPeak]) -> AcceleratorPeak | None:
    text = _normalise(model_name)
    if not text or _MOBILE.search(text):
        return None
    compiled = (
        _COMPILED if table is PEAKS else tuple((p, tuple(re.compile(x) for x in p.patterns)) for p in table)
    )
    for peak, patterns in compiled:
        if any(p.search(text) for p in patterns):
            return peak
    return None
