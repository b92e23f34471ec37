"""Commitments and inventories: TOML authoring, validation naming the field, signatures, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pausewatch import peaks
from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.documents import verify_lab_commitment
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import FormatError, InputError, SignatureError, UnknownKeyError
from pausewatch.files.keyfile import generate_key_file
from pausewatch.inventory import Inventory, inventory_from_toml
from pausewatch.peaks import PEAKS, UNKNOWN_MODEL_PEAK, lookup_peak, overdrawn, overdrawn_peak
from pausewatch.roots import LabRoot
from pausewatch.v1 import types_pb2
from sim.factories import seeded_signer as signer
from verifier.cli import main

CLI = Path(sys.executable).parent / "pausewatch-verifier"

GOOD = """\
id = "pause-2026"
version = 2
lab_id = "lab-example"
facilities = ["fac-a", "fac-b"]
description = "No training; inference allowed."

[window]
start = 2026-01-01T00:00:00Z
end = "2026-07-01T00:00:00+00:00"

[rules]
compute_cap_flop = 1e24
allowed_workloads = ["idle", "inference"]
[[rules.power_caps]]
facility = "fac-a"
max_power_w = 2.5e6

[reporting]
max_report_interval_s = 120
max_gap_s = 180
min_inventory_coverage = 1.0
bucket_s = 3600
timeout_intervals = 3
signatures_required = 2
"""


def test_good_commitment_parses() -> None:
    c = Commitment.from_wire(commitment_from_toml(GOOD, "c.toml"))
    assert c.facility_ids == ("fac-a", "fac-b")
    assert c.compute_cap_flop == 1e24
    assert c.allows(types_pb2.WORKLOAD_CLASS_INFERENCE)
    assert not c.allows(types_pb2.WORKLOAD_CLASS_TRAINING)
    assert c.power_cap_for("fac-a") == 2.5e6
    assert c.power_cap_for("fac-b") is None
    assert c.reporting.bucket_ns == 3600 * 10**9
    assert c.signatures_required == 2
    assert c.buckets()[0] == (c.window_start_ns, c.window_start_ns + 3600 * 10**9)


@pytest.mark.parametrize(
    ("change", "field", "line"),
    [
        (('end = "2026-07-01T00:00:00+00:00"', "end = 2025-07-01T00:00:00Z"), "window.end", 9),
        (("compute_cap_flop = 1e24", "compute_cap_flop = -1.0"), "rules.compute_cap_flop", 12),
        (
            ('allowed_workloads = ["idle", "inference"]', 'allowed_workloads = ["idle", "mining"]'),
            "rules.allowed_workloads[1]",
            13,
        ),
        (("bucket_s = 3600", "bucket_s = 3600\nbuckets = 4"), "reporting.buckets", 23),
        (("max_power_w = 2.5e6", "max_power_w = 0"), "rules.power_caps[0].max_power_w", 16),
        (("start = 2026-01-01T00:00:00Z", "start = 2026-01-01T00:00:00"), "window.start", 8),
        (("version = 2", "version = 0"), "version", 2),
        (("timeout_intervals = 3", "timeout_intervals = 0"), "reporting.timeout_intervals", 23),
        (("signatures_required = 2", 'signatures_required = "two"'), "signatures_required", 24),
    ],
)
def test_bad_commitment_names_the_field_and_line(change: tuple[str, str], field: str, line: int) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(FormatError) as e:
        commitment_from_toml(text, "c.toml")
    assert field in str(e.value)
    assert "c.toml" in str(e.value)
    assert f"c.toml:{line}" in str(e.value)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: setattr(m, "window_end_unix_ns", m.window_start_unix_ns), "window_end_unix_ns"),
        (lambda m: setattr(m.rules, "compute_cap_flop", float("nan")), "rules.compute_cap_flop"),
        (lambda m: m.facility_ids.append("fac-a"), "facility_ids"),
        (lambda m: setattr(m, "all_facilities_of_lab", True), "facility_ids"),
        (lambda m: m.rules.allowed_workloads.append(0), "rules.allowed_workloads[2]"),
        (lambda m: setattr(m.reporting, "bucket_ns", 10), "reporting.bucket_ns"),
        (lambda m: setattr(m.reporting, "min_inventory_coverage", 1.5), "reporting.min_inventory_coverage"),
        (lambda m: setattr(m, "commitment_id", "has space"), "commitment_id"),
        (
            lambda m: m.rules.power_caps.add(facility_id="fac-z", max_power_w=1.0),
            "rules.power_caps[1].facility_id",
        ),
    ],
)
def test_contradictory_wire_commitment_is_rejected(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    m = commitment_from_toml(GOOD, "c.toml")
    mutate(m)
    with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Commitment.from_wire(m)


def test_signed_commitment_needs_k_of_the_lab_keys() -> None:
    wire = commitment_from_toml(GOOD, "c.toml")
    payload = wire.SerializeToString(deterministic=True)
    lab1, lab2, other = signer("lab1"), signer("lab2"), signer("intruder")
    labs = (LabRoot(wire.lab_id, (lab1.public_key, lab2.public_key), tuple(wire.facility_ids)),)

    def verify(env: bytes) -> int:
        return verify_lab_commitment(parse_envelope(env), labs)[1].version

    assert verify(sign_envelope(PayloadType.COMMITMENT, payload, [lab1, lab2])) == 2
    with pytest.raises(SignatureError, match="2 required"):
        verify(sign_envelope(PayloadType.COMMITMENT, payload, [lab1]))
    with pytest.raises(UnknownKeyError):
        verify(sign_envelope(PayloadType.COMMITMENT, payload, [other]))
    with pytest.raises(SignatureError):  # the same key twice is one signer
        verify(sign_envelope(PayloadType.COMMITMENT, payload, [lab1, lab1]))
    with pytest.raises(FormatError, match="expected a commitment"):
        verify(sign_envelope(PayloadType.INVENTORY, payload, [lab1, lab2]))
    unsigned = types_pb2.Envelope(payload=payload, payload_type=PayloadType.COMMITMENT)
    with pytest.raises(FormatError, match="no signatures"):
        verify(unsigned.SerializeToString(deterministic=True))
    with pytest.raises(FormatError):
        verify(b"\xff\x00garbage")


def test_commitment_sign_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k1, k2 = generate_key_file(tmp_path / "lab1.key"), generate_key_file(tmp_path / "lab2.key")
    (tmp_path / "c.toml").write_text(GOOD)
    out = tmp_path / "c.env"
    argv = [
        "commitment",
        "sign",
        "--key",
        str(tmp_path / "lab1.key"),
        "--key",
        str(tmp_path / "lab2.key"),
        "--in",
        str(tmp_path / "c.toml"),
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["commitment_id"] == "pause-2026"
    labs = (LabRoot("lab-example", (k1.public_key, k2.public_key), ("fac-a", "fac-b")),)
    assert verify_lab_commitment(parse_envelope(out.read_bytes()), labs)[1].signatures_required == 2
    assert main(argv) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    out.unlink()
    only_one = [
        "commitment",
        "sign",
        "--key",
        str(tmp_path / "lab1.key"),
        "--in",
        str(tmp_path / "c.toml"),
        "--out",
        str(out),
    ]
    assert main(only_one) == 2
    assert "signatures_required is 2" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text(GOOD.replace("compute_cap_flop = 1e24", "compute_cap_flop = -5"))
    assert (
        main(
            [
                "commitment",
                "sign",
                "--key",
                str(tmp_path / "lab1.key"),
                "--in",
                str(tmp_path / "bad.toml"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad.toml:12" in err
    assert "rules.compute_cap_flop" in err
    assert not out.exists()


def test_commitment_sign_is_a_real_console_command(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "lab.key")
    (tmp_path / "c.toml").write_text(GOOD.replace("signatures_required = 2", "signatures_required = 1"))
    run = subprocess.run(
        [
            str(CLI),
            "commitment",
            "sign",
            "--key",
            str(tmp_path / "lab.key"),
            "--in",
            str(tmp_path / "c.toml"),
            "--out",
            str(tmp_path / "c.env"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    missing = subprocess.run(
        [
            str(CLI),
            "commitment",
            "sign",
            "--key",
            str(tmp_path / "nope.key"),
            "--in",
            str(tmp_path / "c.toml"),
            "--out",
            str(tmp_path / "d.env"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "nope.key" in missing.stderr


INVENTORY = f"""\
facility_id = "fac-a"
lab_id = "lab-example"
version = 1
issued = 2026-01-01T00:00:00Z
[overhead]
min_ratio = 1.05
max_ratio = 1.4
[[nodes]]
node_id = "a-01"
attestor_public_key = "{signer("a-01").public_key.raw.hex()}"
location = "hall 1"
[[nodes.accelerators]]
uuid = "GPU-1"
model = "NVIDIA H100 80GB HBM3"
[[meters]]
meter_id = "a-intake"
public_key = "{signer("meter").public_key.raw.hex()}"
scope = "facility"
"""


def test_inventory_toml_round_trip_and_errors() -> None:
    inv = Inventory.from_wire(inventory_from_toml(INVENTORY, "inv.toml"))
    assert inv.accelerator_count == 1
    assert inv.meters[0].node_ids == ("a-01",)
    assert inv.node_by_key[signer("a-01").public_key.key_id].node_id == "a-01"
    for change, field in [
        (("max_ratio = 1.4", "max_ratio = 0.5"), "overhead"),
        (('uuid = "GPU-1"', 'uuid = ""'), "uuid"),
        (('scope = "facility"', 'scope = "room"'), "meters[0].scope"),
        (('scope = "facility"', 'scope = "nodes"\nnode_ids = ["ghost"]'), "ghost"),
        (("version = 1", "version = 1\ncolour = 2"), "colour"),
    ]:
        with pytest.raises(FormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
            inventory_from_toml(INVENTORY.replace(*change), "inv.toml")
    dup = INVENTORY.replace(signer("meter").public_key.raw.hex(), signer("a-01").public_key.raw.hex())
    with pytest.raises(FormatError, match="key used twice"):
        inventory_from_toml(dup, "inv.toml")


def test_peak_table_matches_reported_names_and_cites_sources() -> None:
    assert lookup_peak("NVIDIA H100 80GB HBM3").model == "NVIDIA H100 SXM"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA H100 PCIe").model == "NVIDIA H100 PCIe"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA A100-SXM4-80GB").model == "NVIDIA A100 SXM"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA A100 80GB PCIe").model == "NVIDIA A100 PCIe"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA L40S").model == "NVIDIA L40S"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA L4").model == "NVIDIA L4"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA A10G").model.startswith("NVIDIA A10")  # type: ignore[union-attr]
    assert lookup_peak("Tesla T4").model == "NVIDIA T4"  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA H200").model == "NVIDIA H200 SXM"  # type: ignore[union-attr]
    assert lookup_peak("AMD Instinct MI300X OAM").model == "AMD Instinct MI300X"  # type: ignore[union-attr]
    for reported, model in (
        ("Tesla V100-SXM2-32GB", "NVIDIA V100 SXM2"),
        ("Tesla V100-PCIE-16GB", "NVIDIA V100 PCIe"),
        ("Tesla V100S-PCIE-32GB", "NVIDIA V100S PCIe"),
        ("NVIDIA A40", "NVIDIA A40"),
        ("NVIDIA A30", "NVIDIA A30"),
        ("NVIDIA L40", "NVIDIA L40"),
        ("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090"),
        ("AMD Instinct MI210", "AMD Instinct MI210"),
        ("AMD Instinct MI325X OAM", "AMD Instinct MI325X"),
        ("NVIDIA GH200 480GB", "NVIDIA GH200"),
        # the parts research and smaller labs train on, as nvidia-smi names them; a bare name
        # that two parts share is read as the more capable one (bounds stay bounds)
        ("NVIDIA TITAN X (Pascal)", "NVIDIA TITAN X (Pascal)"),
        ("TITAN X", "NVIDIA TITAN X (unqualified)"),
        ("GeForce GTX TITAN X", "NVIDIA GeForce GTX TITAN X (Maxwell)"),
        ("NVIDIA TITAN Xp", "NVIDIA TITAN Xp"),
        ("TITAN V", "NVIDIA TITAN V"),
        ("NVIDIA TITAN RTX", "NVIDIA TITAN RTX"),
        ("NVIDIA GeForce GTX 1080 Ti", "NVIDIA GeForce GTX 1080 Ti"),
        ("NVIDIA GeForce RTX 2080 Ti", "NVIDIA GeForce RTX 2080 Ti"),
        ("NVIDIA GeForce RTX 3080", "NVIDIA GeForce RTX 3080"),
        ("NVIDIA GeForce RTX 3080 Ti", "NVIDIA GeForce RTX 3080 Ti"),
        ("NVIDIA GeForce RTX 3090 Ti", "NVIDIA GeForce RTX 3090 Ti"),
        ("NVIDIA GeForce RTX 4080", "NVIDIA GeForce RTX 4080"),
        ("NVIDIA GeForce RTX 4080 SUPER", "NVIDIA GeForce RTX 4080 SUPER"),
        ("NVIDIA GeForce RTX 5090", "NVIDIA GeForce RTX 5090"),
        ("NVIDIA RTX A6000", "NVIDIA RTX A6000"),
        ("NVIDIA RTX A5000", "NVIDIA RTX A5000"),
        ("NVIDIA RTX A4000", "NVIDIA RTX A4000"),
        ("NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX 6000 Ada Generation"),
        ("Quadro RTX 8000", "NVIDIA Quadro RTX 8000 / 6000"),
        ("Quadro RTX 6000", "NVIDIA Quadro RTX 8000 / 6000"),
        ("RTX 6000", "NVIDIA RTX 6000 (unqualified)"),
        ("Tesla P100-PCIE-16GB", "NVIDIA P100 PCIe"),
        ("Tesla P100-SXM2-16GB", "NVIDIA P100 SXM2"),
        ("Tesla P40", "NVIDIA P40"),
        ("Tesla P4", "NVIDIA P4"),
        ("NVIDIA A800-SXM4-80GB", "NVIDIA A100 SXM"),
        ("NVIDIA A800 80GB PCIe", "NVIDIA A100 PCIe"),
        ("NVIDIA H800", "NVIDIA H100 SXM"),
        ("NVIDIA H800 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", "NVIDIA GeForce RTX 4070 Ti SUPER"),
        ("NVIDIA GeForce RTX 4070", "NVIDIA GeForce RTX 4070"),
        ("NVIDIA GeForce RTX 4060", "NVIDIA GeForce RTX 4060"),
        ("NVIDIA GeForce RTX 3070 Ti", "NVIDIA GeForce RTX 3070 Ti"),
        ("NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 3060"),
        ("NVIDIA GeForce RTX 2080 SUPER", "NVIDIA GeForce RTX 2080 SUPER"),
        ("NVIDIA GeForce RTX 2080", "NVIDIA GeForce RTX 2080"),
        ("NVIDIA GeForce RTX 2070", "NVIDIA GeForce RTX 2070"),
        ("NVIDIA GeForce GTX 1080", "NVIDIA GeForce GTX 1080"),
        ("NVIDIA GeForce GTX 1070 Ti", "NVIDIA GeForce GTX 1070 Ti"),
        ("NVIDIA GeForce RTX 4090 D", "NVIDIA GeForce RTX 4090 D"),
        ("NVIDIA TITAN V JHH Special Edition", "NVIDIA TITAN V CEO Edition"),
        ("NVIDIA GeForce RTX 3050", "NVIDIA GeForce RTX 3050"),
        ("NVIDIA GeForce RTX 2060 SUPER", "NVIDIA GeForce RTX 2060 SUPER"),
        ("NVIDIA RTX 5000 Ada Generation", "NVIDIA RTX 5000 Ada Generation"),
        ("NVIDIA RTX 4000 Ada Generation", "NVIDIA RTX 4000 Ada Generation"),
        ("NVIDIA RTX A5500", "NVIDIA RTX A5500"),
        ("NVIDIA RTX A4500", "NVIDIA RTX A4500"),
        ("Quadro RTX 5000", "NVIDIA Quadro RTX 5000"),
        ("Quadro RTX 4000", "NVIDIA Quadro RTX 4000"),
        # the frontier data-centre parts, as NVML / nvidia-smi / rocm-smi name them
        ("NVIDIA GB200", "NVIDIA GB200"),
        ("NVIDIA GB300", "NVIDIA GB300"),
        ("NVIDIA B300 SXM6 AC", "NVIDIA B300"),
        ("NVIDIA B300", "NVIDIA B300"),
        ("NVIDIA B100", "NVIDIA B100"),
        ("NVIDIA B200", "NVIDIA B200"),
        ("NVIDIA A2", "NVIDIA A2"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"),
        ("AMD Instinct MI355X", "AMD Instinct MI355X"),
        ("AMD Instinct MI350X", "AMD Instinct MI350X"),
        ("AMD Instinct MI300A", "AMD Instinct MI300A"),
        ("AMD Instinct MI250X", "AMD Instinct MI250X"),
        ("AMD Instinct MI250", "AMD Instinct MI250"),
        # amdgpu's name for PCI device 0x740C, which both parts carry: read as either
        ("AMD Instinct MI250X / MI250", "AMD Instinct MI250X / MI250"),
    ):
        assert lookup_peak(reported).model == model, reported  # type: ignore[union-attr]
    # the China parts without a public NVIDIA datasheet, from their reported figures
    for reported, model in (("NVIDIA H20", "NVIDIA H20"), ("NVIDIA L20", "NVIDIA L20")):
        assert lookup_peak(reported).model == model, reported  # type: ignore[union-attr]
    assert lookup_peak("NVIDIA H200").model == "NVIDIA H200 SXM"  # type: ignore[union-attr]
    # no vendor figures for these (the RTX PRO 6000 Server and Max-Q editions have none of their
    # own here): unknown, the table's largest bound them
    for absent in (
        "NVIDIA GeForce GTX 1060 6GB",
        "NVIDIA RTX 4000 SFF Ada Generation",
        "NVIDIA RTX PRO 6000 Blackwell",
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition",
    ):
        assert lookup_peak(absent) is None, absent
    # a laptop part is not its desktop namesake (the RTX 3060 Laptop GPU has more cores than
    # the desktop RTX 3060; most have fewer, and the desktop lower bound would overstate them)
    for laptop in (
        "NVIDIA GeForce RTX 3060 Laptop GPU",
        "NVIDIA GeForce RTX 4090 Laptop GPU",
        "GeForce GTX 1070 with Max-Q Design",
    ):
        assert lookup_peak(laptop) is None, laptop
    assert lookup_peak("") is None
    # an unknown part's figures bound every entry's, in time (densest) and in energy (densest per
    # board W, the compute fold's energy bound)
    assert UNKNOWN_MODEL_PEAK.densest_flops >= max(p.densest_flops for p in PEAKS)
    assert UNKNOWN_MODEL_PEAK.board_power_w == max(p.board_power_w for p in PEAKS)
    assert UNKNOWN_MODEL_PEAK.densest_flops / UNKNOWN_MODEL_PEAK.board_power_w == pytest.approx(
        max(p.densest_flops / p.board_power_w for p in PEAKS)
    )
    # the GB200's per-GPU FP4 figure (20 PF sparse) is above the B200's (18 PF), the table's
    # largest before it: an unknown GB200 was not even bounded by the unknown figure
    gb200 = lookup_peak("NVIDIA GB200")
    assert gb200 is not None
    assert gb200.densest_flops > lookup_peak("NVIDIA B200").densest_flops  # type: ignore[union-attr]
    for p in PEAKS:
        assert p.source
        assert p.densest_flops >= p.dense_bf16_flops >= p.least_tensor_flops > 0


def test_figures_derived_by_ratio_reproduce_the_whitepapers_columns() -> None:
    # the cards whose spec pages quote only FP32 get their tensor figures by their
    # architecture's ratios (``peaks._by_ratio``): the same ratios give back, within 1 %, the
    # full columns the whitepapers print for the cards they cover
    for name, arch, fp32 in (
        ("NVIDIA GeForce RTX 3090", "Ampere", 35.6),
        ("NVIDIA GeForce RTX 3080", "Ampere", 29.8),
        ("NVIDIA GeForce RTX 4090", "Ada", 82.6),
        ("NVIDIA GeForce RTX 4080", "Ada", 48.7),
        ("NVIDIA GeForce RTX 2080 Ti", "Turing", 14.2),
        ("NVIDIA RTX A6000", "Ampere professional", 38.7),
        ("Quadro RTX 8000", "Turing professional", 16.3),
    ):
        printed = lookup_peak(name)
        assert printed is not None
        derived = peaks._by_ratio(name, arch, fp32, printed.board_power_w, "")
        for field in ("densest_flops", "dense_bf16_flops", "least_tensor_flops"):
            assert getattr(derived, field) == pytest.approx(getattr(printed, field), rel=0.01), (name, field)
    # the Ada professional ratios come from the one figure the RTX 6000 Ada datasheet prints
    # beyond FP32: FP8 1,457 TF sparse, half its densest (INT4 sparse)
    ada = lookup_peak("NVIDIA RTX 6000 Ada Generation")
    assert ada is not None
    assert ada.densest_flops / 2 == pytest.approx(1457e12, rel=0.01)


def test_a_name_two_parts_share_keeps_both_bounds() -> None:
    # the larger part's upper figures, the smaller part's lower bound, whichever it is
    for bare, parts in (
        ("TITAN X", ("NVIDIA TITAN X (Pascal)", "GeForce GTX TITAN X")),
        ("RTX 6000", ("NVIDIA RTX 6000 Ada Generation", "Quadro RTX 6000")),
    ):
        either = lookup_peak(bare)
        assert either is not None, bare
        each = [p for n in parts if (p := lookup_peak(n)) is not None]
        assert len(each) == 2, parts
        assert either.densest_flops == max(p.densest_flops for p in each)
        assert either.dense_bf16_flops == max(p.dense_bf16_flops for p in each)
        assert either.board_power_w == max(p.board_power_w for p in each)
        assert either.least_tensor_flops == min(p.least_tensor_flops for p in each)
        assert either.least_tensor_flops < max(p.least_tensor_flops for p in each), bare


def test_a_device_that_overdraws_its_model_is_bounded_as_unknown_but_keeps_the_claimed_lower_bound() -> None:
    # A red team's (2026-12-06): training H100s reported as T4s. The upper bounds take the
    # table's largest figures; the lower bound stays the T4's, so the lab's own claim still sets
    # the least it computed (judged unknown, it had none, and a cap the T4 figures had shown
    # exceeded was never a VIOLATION).
    t4 = lookup_peak("Tesla T4")
    assert t4 is not None
    assert overdrawn(t4, 474.0)
    assert not overdrawn(t4, 87.0)
    bounded = overdrawn_peak(t4)
    assert bounded.densest_flops == UNKNOWN_MODEL_PEAK.densest_flops
    assert bounded.board_power_w == UNKNOWN_MODEL_PEAK.board_power_w
    assert bounded.least_tensor_flops == t4.least_tensor_flops > 0
