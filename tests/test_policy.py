"""tlog-policy parsing, formatting and checkpoint verification with witness quorums."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pausewatch.checkpoint import (
    Checkpoint,
    CosignatureSigner,
    parse_checkpoint,
    sign_checkpoint,
    sign_cosignature,
)
from pausewatch.errors import FormatError, KeyFileError, LimitExceededError, SignatureError
from pausewatch.keys import Ed25519Signer
from pausewatch.note import (
    Ed25519NoteSigner,
    UnsupportedKeyTypeError,
    VerifierKey,
    parse_note,
)
from pausewatch.policy import (
    MAX_POLICY_SIZE,
    Policy,
    PolicyGroup,
    check_checkpoint,
    parse_policy,
    verify_checkpoint,
)

VECTORS = Path(__file__).parent / "vectors"
SKYLIGHT: dict[str, Any] = json.loads(
    (VECTORS / "filosottile-sunlight-skylight-cosignatures.json").read_text("utf-8")
)
TIME = 1767139200

LOG = Ed25519NoteSigner(
    "log.example/pause", Ed25519Signer.from_seed(hashlib.sha256(b"log").digest())
)


def witness(i: int, name: str | None = None) -> CosignatureSigner:
    seed = hashlib.sha256(f"witness {i}".encode()).digest()
    return CosignatureSigner(name or f"w{i}.example", Ed25519Signer.from_seed(seed), TIME)


W = [witness(i) for i in range(6)]
CP = Checkpoint("log.example/pause", 42, hashlib.sha256(b"root").digest())


def policy_text(quorum: str, groups: str = "", witnesses: int = 6) -> bytes:
    lines = [f"log {LOG.vkey} https://log.example/pause"]
    lines += [f"witness W{i} {W[i].verifier.vkey}" for i in range(witnesses)]
    return ("\n".join(lines) + "\n" + groups + f"quorum {quorum}\n").encode()


SPEC_GROUPS = (
    "group X-witnesses 2 W0 W1 W2\n"
    "group Y-witnesses any W3 W4 W5\n"
    "group X-and-Y all X-witnesses Y-witnesses\n"
)


def note_signed_by(*cosigners: int, checkpoint: Checkpoint = CP) -> bytes:
    return sign_checkpoint(checkpoint, [LOG, *(W[i] for i in cosigners)]).format()


# --------------------------------------------------------------------------- parsing


def test_spec_example_shape_parses_and_formats_canonically() -> None:
    text = policy_text("X-and-Y", SPEC_GROUPS)
    policy = parse_policy(text)
    assert [g.threshold for g in policy.groups] == [2, 1, 2]
    assert policy.quorum == "X-and-Y"
    assert policy.logs[0].url == "https://log.example/pause"
    assert parse_policy(policy.format()) == policy
    assert policy.format() == text


def test_comments_blank_lines_and_tabs_are_ignored() -> None:
    text = (
        f"# a comment\n\n   \t\n  log\t{LOG.vkey}  \n"
        f"\t# indented comment\nwitness  W0 {W[0].verifier.vkey}\nquorum W0\n"
    ).encode()
    policy = parse_policy(text)
    assert policy.quorum == "W0"
    assert len(policy.witnesses) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quorum none\nquorum none\n", "exactly one quorum"),
        ("log x\n", "vkey"),
        ("frobnicate 1\nquorum none\n", "unknown keyword 'frobnicate'"),
        ("quorum W9\n", "not defined"),
        ("group G 1 W9\nquorum G\n", "not defined"),
        ("", "no quorum"),
        ("# only comment\n", "no quorum"),
        ("quorum none", "end with a newline"),
        ("quorum none\r\n", "Windows line endings"),
        ("quorum\n", "expected: quorum <name>"),
        ("quorum a b\n", "expected: quorum <name>"),
    ],
)
def test_malformed_policies_name_the_problem(text: str, message: str) -> None:
    with pytest.raises((FormatError, KeyFileError), match=message):
        parse_policy(text.encode())


def test_group_rules() -> None:
    base = policy_text("none", witnesses=3).decode().replace("quorum none\n", "")
    cases = {
        "group G 0 W0\nquorum G\n": "threshold 0",
        "group G 3 W0 W1\nquorum G\n": "threshold 3",
        "group G all W0 W0\nquorum G\n": "more than once",
        "group G any none\nquorum G\n": "'none' cannot",
        "group G any\nquorum G\n": "expected: group",
        "group W0 any W1\nquorum W0\n": "already defined",
        "group none any W1\nquorum none\n": "reserved",
        "group G any G\nquorum G\n": "not defined",
        "group G x W0\nquorum G\n": "threshold 'x'",
        "group G 01 W0\nquorum G\n": "threshold '01'",
    }
    for tail, message in cases.items():
        with pytest.raises(FormatError, match=message):
            parse_policy((base + tail).encode())


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(FormatError, match="duplicate log key"):
        parse_policy(f"log {LOG.vkey}\nlog {LOG.vkey}\nquorum none\n".encode())
    same_key_other_name = CosignatureSigner("other.example", W[0]._signer, TIME).verifier.vkey
    with pytest.raises(FormatError, match="duplicate witness key"):
        parse_policy(
            f"witness A {W[0].verifier.vkey}\nwitness B {same_key_other_name}\nquorum none\n".encode()
        )
    with pytest.raises(FormatError, match="already defined"):
        parse_policy(
            f"witness A {W[0].verifier.vkey}\nwitness A {W[1].verifier.vkey}\nquorum none\n".encode()
        )


def test_key_types_are_enforced_with_clear_messages() -> None:
    with pytest.raises(UnsupportedKeyTypeError, match=r"log key .* must be Ed25519 \(0x01\)"):
        parse_policy(f"log {W[0].verifier.vkey}\nquorum none\n".encode())
    with pytest.raises(UnsupportedKeyTypeError, match=r"witness key .* cosignature/v1"):
        parse_policy(f"witness A {LOG.vkey}\nquorum none\n".encode())
    mldsa = VerifierKey("pq.example", 0x06, bytes(1312)).format()
    with pytest.raises(UnsupportedKeyTypeError, match="ML-DSA-44"):
        parse_policy(f"witness A {mldsa}\nquorum A\n".encode())


def test_policy_limits() -> None:
    with pytest.raises(LimitExceededError):
        parse_policy(b"#" * (MAX_POLICY_SIZE + 1))
    many = "".join(f"witness N{i} {witness(100 + i).verifier.vkey}\n" for i in range(32))
    groups = "group G 17 " + " ".join(f"N{i}" for i in range(32)) + "\n"
    policy = parse_policy((f"log {LOG.vkey}\n" + many + groups + "quorum G\n").encode())
    assert len(policy.witnesses) == 32


def test_non_ascii_names_are_opaque_octets() -> None:
    text = f"witness K {W[0].verifier.vkey}\nwitness \u212a {W[1].verifier.vkey}\nquorum \u212a\n"
    policy = parse_policy(text.encode())
    assert [w.name for w in policy.witnesses] == ["K", "\u212a"]
    raw = f"witness \xff {W[0].verifier.vkey}\nquorum none\n".encode("latin-1")
    assert parse_policy(raw).format() == raw


def test_policy_dataclass_invariants() -> None:
    with pytest.raises(FormatError):
        PolicyGroup("G", 1, ())
    with pytest.raises(FormatError, match="quorum 'X'"):
        Policy((), (), (), "X")


# --------------------------------------------------------------------------- verification


def test_spec_quorum_met_and_not_met() -> None:
    policy = parse_policy(policy_text("X-and-Y", SPEC_GROUPS))
    verified = check_checkpoint(note_signed_by(0, 2, 4), policy)
    assert verified.checkpoint == CP
    assert verified.witnesses == ("W0", "W2", "W4")
    assert [c.timestamp for c in verified.cosignatures] == [TIME] * 3
    assert verify_checkpoint(note_signed_by(1, 2, 3, 5), policy) == CP
    for missing in [(0, 3, 4, 5), (0, 1, 2), (1,), ()]:
        with pytest.raises(SignatureError, match="quorum 'X-and-Y' not met"):
            verify_checkpoint(note_signed_by(*missing), policy)


def test_quorum_none_needs_only_the_log() -> None:
    policy = parse_policy(f"log {LOG.vkey}\nquorum none\n".encode())
    assert verify_checkpoint(note_signed_by(), policy) == CP


def test_single_witness_quorum() -> None:
    policy = parse_policy(policy_text("W3"))
    assert check_checkpoint(note_signed_by(3), policy).witnesses == ("W3",)
    with pytest.raises(SignatureError, match="not met"):
        verify_checkpoint(note_signed_by(2), policy)


def test_attack_checkpoint_signed_only_by_witnesses() -> None:
    policy = parse_policy(policy_text("W0"))
    note = sign_checkpoint(CP, [W[0]]).format()
    with pytest.raises(SignatureError, match="not signed by any log"):
        verify_checkpoint(note, policy)


def test_attack_unknown_log_key_with_the_same_name() -> None:
    policy = parse_policy(policy_text("none"))
    impostor = Ed25519NoteSigner.generate(LOG.name)
    with pytest.raises(SignatureError, match="no verifiable signatures"):
        verify_checkpoint(sign_checkpoint(CP, [impostor]).format(), policy)


def test_attack_origin_differs_from_log_key_name() -> None:
    policy = parse_policy(policy_text("none"))
    other = Checkpoint("other.example/log", CP.size, CP.root_hash)
    with pytest.raises(SignatureError, match=re.escape("origin 'other.example/log'")):
        verify_checkpoint(note_signed_by(checkpoint=other), policy)


def test_attack_one_bad_witness_cosignature_rejects_the_checkpoint() -> None:
    policy = parse_policy(policy_text("W0"))
    good = parse_note(note_signed_by(0, 1))
    other = Checkpoint(CP.origin, CP.size + 1, CP.root_hash)
    forged = sign_cosignature(other, W[1].name, W[1]._signer, TIME).to_note_signature()
    note = good.__class__(good.text, (*good.signatures[:2], forged))
    with pytest.raises(SignatureError, match=re.escape("invalid cosignature for key w1.example")):
        verify_checkpoint(note, policy)


def test_attack_same_witness_counted_once() -> None:
    policy = parse_policy(policy_text("G", "group G 2 W0 W1\n"))
    note = parse_note(note_signed_by(0))
    doubled = note.with_signatures(note.signatures[1])
    with pytest.raises(SignatureError, match="not met"):
        verify_checkpoint(doubled, policy)


def test_policy_without_logs_cannot_verify() -> None:
    policy = parse_policy(policy_text("none").split(b"\n", 1)[1])
    with pytest.raises(SignatureError, match="no log keys"):
        verify_checkpoint(note_signed_by(), policy)


def test_skylight_witness_in_a_policy() -> None:
    """A real cosignature (Sunlight's vectors) satisfies a policy quorum. The vector's log
    signature is ECDSA (type 0x05, unsupported), so our own log key signs the same body."""
    case = SKYLIGHT["cosignatures"][0]
    log = Ed25519NoteSigner.generate("rome2026h1.example.org")
    policy = parse_policy(
        f"log {log.vkey}\nwitness skylight {case['cosigner_vkey']}\nquorum skylight\n".encode()
    )
    line = case["cosignature_line"] + "\n"
    cosignature = parse_note((case["checkpoint_body"] + "\n" + line).encode()).signatures[0]
    note = sign_checkpoint(parse_checkpoint(case["checkpoint_body"]), [log], keep=[cosignature])
    assert check_checkpoint(note, policy).witnesses == ("skylight",)
    with pytest.raises(SignatureError, match="not signed by any log"):
        check_checkpoint(case["full_note"].encode(), policy)
