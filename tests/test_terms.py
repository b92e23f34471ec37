"""The terms core (``pausewatch.terms``): the TOML format's errors, the quorum, the succession
rule, and the stricter-of merge the verifier and the auditor both evaluate under; and the
``pausewatch-verifier terms`` commands' conventions (exit codes, --json, no tracebacks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import FormatError, SignatureError
from pausewatch.files.keyfile import generate_key_file
from pausewatch.terms import (
    Terms,
    TermsInForce,
    TermsSuccessionError,
    TermsViolationError,
    terms_from_toml,
    verify_terms,
)
from pausewatch.v1 import types_pb2
from sim.factories import seeded_signer
from verifier.cli import main

TERMS = """\
id = "t"
version = {version}
parties = ["a", "b", "c"]
signatures_required = 2

[[labs]]
lab_id = "lab-1"

[window]
start = {start}
end = 2026-07-01T00:00:00Z

[rules]
compute_cap_flop = 1e24
allowed_workloads = ["idle", "inference"]

[tolerances]
overhead_max_ratio = 1.5
"""

COMMITMENT = """
id = "c"
version = 1
lab_id = "lab-1"
facilities = ["fac-a"]
[window]
start = 2025-12-01T00:00:00Z
end = 2026-08-01T00:00:00Z
[rules]
{rules}
[tolerances]
overhead_max_ratio = {hi}
"""

A, B, C, X = (seeded_signer(f"party-{n}") for n in "abcx")
KEYS = {"a": [A.public_key], "b": [B.public_key], "c": [C.public_key]}


def _terms(version: int = 1, start: str = "2026-01-01T00:00:00Z") -> types_pb2.Terms:
    return terms_from_toml(TERMS.format(version=version, start=start), "terms.toml")


def _signed(msg: types_pb2.Terms, *signers: object) -> bytes:
    return sign_envelope(PayloadType.TERMS, msg.SerializeToString(deterministic=True), signers)  # type: ignore[arg-type]


def _commitment(
    rules: str = 'compute_cap_flop = 1e23\nallowed_workloads = ["idle"]', hi: float = 1.4
) -> Commitment:
    return Commitment.from_wire(commitment_from_toml(COMMITMENT.format(rules=rules, hi=hi), "c.toml"))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("signatures_required = 2", "signatures_required = 4"), "terms.toml:4: signatures_required"),
        (
            ("overhead_max_ratio = 1.5", "overhead_max_ratio = 0.5"),
            "terms.toml:18: tolerances.overhead_max_ratio",
        ),
        (
            ('lab_id = "lab-1"', 'lab_id = "lab-1"\nfacility = "x"'),
            "terms.toml:8: labs[0].facility: unknown key",
        ),
        (("[rules]", "[rules]\nmax_gap_s = 3"), "rules.max_gap_s: unknown key"),
        (("end = 2026-07-01T00:00:00Z", "end = 2025-07-01T00:00:00Z"), "window.end"),
    ],
)
def test_toml_errors_name_file_line_and_field(change: tuple[str, str], where: str) -> None:
    text = TERMS.format(version=1, start="2026-01-01T00:00:00Z").replace(*change)
    with pytest.raises(FormatError) as e:
        terms_from_toml(text, "terms.toml")
    assert where in str(e.value)


def test_quorum_unknown_signer_and_unnamed_party() -> None:
    msg = _terms()
    terms, signed_by = verify_terms(parse_envelope(_signed(msg, A, C)), KEYS)
    assert signed_by == ["a", "c"]
    assert terms.signatures_required == 2
    with pytest.raises(SignatureError, match="needs 2"):
        verify_terms(parse_envelope(_signed(msg, A)), KEYS)
    with pytest.raises(SignatureError, match="no known party"):
        verify_terms(parse_envelope(_signed(msg, A, B, X)), KEYS)
    with pytest.raises(SignatureError, match="not among the trusted parties"):
        verify_terms(parse_envelope(_signed(msg, A, B)), {"a": KEYS["a"], "b": KEYS["b"]})


def test_a_new_version_keeps_the_start_extends_only_and_needs_the_old_quorum() -> None:
    old = Terms.from_wire(_terms())
    verify_terms(parse_envelope(_signed(_terms(2), A, B)), KEYS, old)
    with pytest.raises(TermsSuccessionError, match=r"window\.start"):
        verify_terms(parse_envelope(_signed(_terms(2, "2026-02-01T00:00:00Z"), A, B)), KEYS, old)
    with pytest.raises(TermsSuccessionError, match="version"):
        verify_terms(parse_envelope(_signed(_terms(1), A, B)), KEYS, old)
    # the new version lowers the bar to one party; the old quorum (2) still applies
    lax = _terms(2)
    lax.signatures_required = 1
    with pytest.raises(SignatureError, match="replacing version 1"):
        verify_terms(parse_envelope(_signed(lax, A)), KEYS, old)


def test_commitments_within_terms_and_the_stricter_of_the_two() -> None:
    in_force = TermsInForce.latest([Terms.from_wire(_terms())])
    narrow = _commitment()
    in_force.check_commitment(narrow)
    plan = in_force.effective(narrow)
    assert plan.commitment == narrow
    assert [r.terms_id for r in plan.terms] == ["t"]
    for rules, hi, field in (
        ('allowed_workloads = ["idle"]', 1.4, "rules.compute_cap_flop: no cap"),
        ('compute_cap_flop = 1e23\nallowed_workloads = ["training"]', 1.4, "rules.allowed_workloads"),
        ("compute_cap_flop = 1e23", 1.4, "rules.allowed_workloads: allows every class"),
        ('compute_cap_flop = 1e23\nallowed_workloads = ["idle"]', 1.55, "tolerances.overhead_max_ratio"),
    ):
        wide = _commitment(rules, hi)
        with pytest.raises(TermsViolationError, match=field.replace("(", r"\(")):
            in_force.check_commitment(wide)
        # a commitment logged before the terms is held to the stricter of the two
        effective = in_force.effective(wide).commitment
        assert effective.compute_cap_flop == min(1e24, wide.compute_cap_flop or 1e24)
        assert effective.tolerances.overhead_max_ratio == min(1.5, hi)
        assert types_pb2.WORKLOAD_CLASS_TRAINING not in effective.allowed_workloads
        assert effective.allowed_workloads
    # a lab the terms cover without a commitment: an implied one, under the terms alone
    (implied,) = in_force.implied([])
    assert implied.implied
    assert implied.commitment.commitment_id == "terms:t:lab-1"
    assert in_force.implied([narrow]) == []


def test_cli_sign_cosign_show_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "terms.toml"
    src.write_text(TERMS.format(version=1, start="2026-01-01T00:00:00Z"))
    keys = {}
    for name in "abc":
        keys[name] = tmp_path / f"{name}.key"
        generate_key_file(keys[name])
    config = tmp_path / "v.toml"
    lines = [
        'state_dir = "state"',
        "[log]",
        'origin = "x.test/log"',
        'key_file = "a.key"',
        "[challenge]",
        'key_file = "a.key"',
        "[verdict]",
        'key_file = "a.key"',
    ]
    for name in "abc":
        pub = json.loads(_run(capsys, "--json", "keygen", "--out", str(tmp_path / f"p{name}.key"))[1])[
            "public_key"
        ]
        keys[name] = tmp_path / f"p{name}.key"
        lines += ["[[parties]]", f'party_id = "{name}"', f'public_keys = ["{pub}"]']
    config.write_text("\n".join(lines) + "\n")
    one, two = tmp_path / "one.env", tmp_path / "two.env"
    assert _run(capsys, "terms", "sign", "--key", str(keys["a"]), "--in", str(src), "--out", str(one))[0] == 0
    code, out = _run(capsys, "--json", "terms", "show", "--in", str(one), "--config", str(config))
    assert code == 1
    assert json.loads(out)["quorum"] is False
    assert _run(capsys, "terms", "sign", "--key", str(keys["b"]), "--in", str(one), "--out", str(two))[0] == 0
    code, out = _run(capsys, "--json", "terms", "show", "--in", str(two), "--config", str(config))
    assert code == 0
    assert json.loads(out)["signed_by"] == ["a", "b"]
    # the operator's errors: exit 2, one line, no traceback
    code, _ = _run(
        capsys, "terms", "sign", "--key", str(keys["a"]), "--in", str(one), "--out", str(tmp_path / "x")
    )
    assert code == 2
    assert "already signed" in capsys.readouterr().err + _LAST_ERR[0]
    src.write_text(src.read_text().replace("1.5", "9.5"))
    code, _ = _run(
        capsys, "terms", "sign", "--key", str(keys["a"]), "--in", str(src), "--out", str(tmp_path / "y")
    )
    assert code == 2
    assert "tolerances.overhead_max_ratio" in _LAST_ERR[0]
    assert "Traceback" not in _LAST_ERR[0]
    assert _run(capsys, "terms", "show")[0] == 2


_LAST_ERR = [""]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    _LAST_ERR[0] = captured.err
    return code, captured.out
