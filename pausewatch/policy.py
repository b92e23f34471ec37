"""C2SP transparency log trust policies (c2sp.org/tlog-policy) and checkpoint verification
against them.

A policy names the logs whose checkpoints are accepted, the witnesses, optional witness groups
(``all``/``any``/k of n members, nested) and exactly one ``quorum`` (a witness, a group, or
``none``)::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

A checkpoint verifies when a listed log signed it (its origin equals the log key's name), no
signature from a listed key fails, and the witnesses whose cosignatures verify satisfy the
quorum.

Choices where the spec leaves room:

- log keys must be Ed25519 note keys (type 0x01) and witness keys Ed25519 cosignature/v1 keys
  (type 0x04); ML-DSA-44 (0x06) and ECDSA keys are refused as unsupported;
- the file is parsed as octets; names may hold any non-ASCII octets and are compared as octets
  (decoded with ``surrogateescape``, so invalid UTF-8 in a name or comment round-trips);
- limits: :data:`MAX_POLICY_SIZE` bytes, :data:`MAX_POLICY_ITEMS` logs, witnesses and groups
  each (the spec recommends supporting at least 32), names up to 255 bytes;
- :meth:`Policy.format` writes a canonical form (logs, witnesses, groups, quorum; ``all`` and
  ``any`` where they apply); comments and spacing are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pausewatch.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureVerifier,
    parse_checkpoint,
)
from pausewatch.errors import FormatError, KeyFileError, LimitExceededError, SignatureError
from pausewatch.keys import Ed25519Key
from pausewatch.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Ed25519NoteVerifier,
    Note,
    NoteVerifier,
    VerifierKey,
    open_note,
    parse_note,
    parse_vkey,
)

__all__ = [
    "MAX_POLICY_ITEMS",
    "MAX_POLICY_SIZE",
    "QUORUM_NONE",
    "Policy",
    "PolicyGroup",
    "PolicyLog",
    "PolicyWitness",
    "VerifiedCheckpoint",
    "check_checkpoint",
    "parse_policy",
    "verify_checkpoint",
]

MAX_POLICY_SIZE = 256 * 1024
MAX_POLICY_ITEMS = 256
QUORUM_NONE = "none"
_MAX_NAME_BYTES = 255
_FORBIDDEN_BYTES = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class PolicyLog:
    key: VerifierKey
    url: str | None = None

    def __post_init__(self) -> None:
        self.key.require_type(SIG_TYPE_ED25519, "log")

    @property
    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self.key.name, Ed25519Key(self.key.public_key))


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    key: VerifierKey
    url: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "witness")
        self.key.require_type(SIG_TYPE_COSIGNATURE_V1, "witness")

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.key.name, Ed25519Key(self.key.public_key))


@dataclass(frozen=True)
class PolicyGroup:
    """At least ``threshold`` of ``members`` (witness or group names) must have witnessed."""

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name(self.name, "group")
        if not self.members:
            raise FormatError(f"group {self.name!r} has no members")
        if len(set(self.members)) != len(self.members):
            raise FormatError(f"group {self.name!r} lists a member more than once")
        if QUORUM_NONE in self.members:
            raise FormatError(f"group {self.name!r}: 'none' cannot be a group member")
        if not 1 <= self.threshold <= len(self.members):
            raise FormatError(
                f"group {self.name!r}: threshold {self.threshold} must be between 1 and its"
                f" {len(self.members)} members"
            )


def _check_name(name: str, what: str) -> None:
    if not name or _WS.search(name) or "\n" in name:
        raise FormatError(f"{what} name {name!r} is empty or contains whitespace")
    if name == QUORUM_NONE:
        raise FormatError(f"{what} name 'none' is reserved")
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
        raise LimitExceededError(f"{what} name is longer than {_MAX_NAME_BYTES} bytes")


@dataclass(frozen=True)
class Policy:
    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str

    def __post_init__(self) -> None:
        for what, count in (
            ("logs", len(self.logs)),
            ("witnesses", len(self.witnesses)),
            ("groups", len(self.groups)),
        ):
            if count > MAX_POLICY_ITEMS:
                raise LimitExceededError(f"policy has {count} {what}; at most {MAX_POLICY_ITEMS}")
        _no_duplicate_keys([log.key for log in self.logs], "log")
        _no_duplicate_keys([w.key for w in self.witnesses], "witness")
        defined: set[str] = set()
        for w in self.witnesses:
            if w.name in defined:
                raise FormatError(f"witness name {w.name!r} is defined twice")
            defined.add(w.name)
        for g in self.groups:
            if g.name in defined:
                raise FormatError(f"group name {g.name!r} is already defined")
            for m in g.members:
                if m not in defined:
                    raise FormatError(
                        f"group {g.name!r} refers to {m!r}, which is not defined before it"
                    )
            defined.add(g.name)
        if self.quorum != QUORUM_NONE and self.quorum not in defined:
            raise FormatError(f"quorum {self.quorum!r} is not a defined witness or group")

    def quorum_met(self, witnessed: set[str]) -> bool:
        """Whether the witnesses named in ``witnessed`` satisfy the quorum."""
        if self.quorum == QUORUM_NONE:
            return True
        groups = {g.name: g for g in self.groups}
        memo: dict[str, bool] = {}

        def met(name: str) -> bool:
            if name not in memo:
                group = groups.get(name)
                if group is None:
                    memo[name] = name in witnessed
                else:
                    memo[name] = sum(met(m) for m in group.members) >= group.threshold
            return memo[name]

        return met(self.quorum)

    def format(self) -> bytes:
        lines = [_join("log", log.key.format(), log.url) for log in self.logs]
        lines += [_join("witness", w.name, w.key.format(), w.url) for w in self.witnesses]
        for g in self.groups:
            n = len(g.members)
            k = "all" if g.threshold == n else "any" if g.threshold == 1 else str(g.threshold)
            lines.append(_join("group", g.name, k, *g.members))
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p is not None)


def _no_duplicate_keys(keys: list[VerifierKey], what: str) -> None:
    seen: dict[bytes, VerifierKey] = {}
    for key in keys:
        if key.public_key in seen:
            raise FormatError(
                f"duplicate {what} key: {key.name} and {seen[key.public_key].name} wrap the same"
                " public key"
            )
        seen[key.public_key] = key


def parse_policy(data: bytes) -> Policy:
    """Parse a tlog-policy file. FormatError / KeyFileError / LimitExceededError name the line."""
    if len(data) > MAX_POLICY_SIZE:
        raise LimitExceededError(f"policy is {len(data)} bytes; at most {MAX_POLICY_SIZE}")
    if (m := _FORBIDDEN_BYTES.search(data)) is not None:
        line_no = data.count(b"\n", 0, m.start()) + 1
        hint = " (Windows line endings? use plain newlines)" if m.group() == b"\r" else ""
        raise FormatError(f"policy line {line_no}: control character {m.group()!r}{hint}")
    if data and not data.endswith(b"\n"):
        raise FormatError("policy must end with a newline")
    text = data.decode("utf-8", "surrogateescape")
    logs: list[PolicyLog] = []
    witnesses: list[PolicyWitness] = []
    groups: list[PolicyGroup] = []
    quorum: str | None = None
    defined: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n")[:-1] if text else [], 1):
        fields = _WS.split(raw.strip(" \t"))
        if fields == [""] or fields[0].startswith("#"):
            continue
        where = f"policy line {number}"
        try:
            keyword, args = fields[0], fields[1:]
            if keyword == "log":
                _arity(args, 1, 2, "log <vkey> [<url>]")
                logs.append(PolicyLog(_vkey(args[0]), _opt(args, 1)))
            elif keyword == "witness":
                _arity(args, 2, 3, "witness <name> <vkey> [<url>]")
                _define(defined, args[0], number)
                witnesses.append(PolicyWitness(args[0], _vkey(args[1]), _opt(args, 2)))
            elif keyword == "group":
                if len(args) < 3:
                    raise FormatError("expected: group <name> all|any|<k> <name>...")
                name, k_text, members = args[0], args[1], tuple(args[2:])
                for member in members:
                    if member not in defined and member != QUORUM_NONE:
                        raise FormatError(f"group member {member!r} is not defined on an earlier line")
                _define(defined, name, number)
                groups.append(PolicyGroup(name, _threshold(k_text, len(members)), members))
            elif keyword == "quorum":
                _arity(args, 1, 1, "quorum <name>")
                if quorum is not None:
                    raise FormatError("a policy must have exactly one quorum line; this is another")
                if args[0] != QUORUM_NONE and args[0] not in defined:
                    raise FormatError(f"quorum {args[0]!r} is not defined on an earlier line")
                quorum = args[0]
            else:
                raise FormatError(
                    f"unknown keyword {keyword!r} (expected log, witness, group or quorum)"
                )
        except (FormatError, KeyFileError, LimitExceededError) as e:
            raise type(e)(f"{where}: {e}") from e
    if quorum is None:
        raise FormatError("policy has no quorum line (use 'quorum none' to require no witnesses)")
    return Policy(tuple(logs), tuple(witnesses), tuple(groups), quorum)


def _arity(args: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise FormatError(f"expected: {usage}")


def _opt(args: list[str], i: int) -> str | None:
    return args[i] if len(args) > i else None


def _vkey(text: str) -> VerifierKey:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise KeyFileError("vkey is not valid UTF-8") from e
    return parse_vkey(text)


def _define(defined: dict[str, int], name: str, number: int) -> None:
    if name in defined:
        raise FormatError(f"name {name!r} is already defined on line {defined[name]}")
    if name == QUORUM_NONE:
        raise FormatError("the name 'none' is reserved")
    defined[name] = number


def _threshold(text: str, n: int) -> int:
    if text == "all":
        return n
    if text == "any":
        return 1
    if re.fullmatch(r"0|[1-9][0-9]{0,3}", text) is None:
        raise FormatError(f"group threshold {text!r} is not all, any or a decimal number")
    return int(text)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint that satisfied a policy, and who vouched for it."""

    checkpoint: Checkpoint
    log: VerifierKey
    witnesses: tuple[str, ...]
    cosignatures: tuple[Cosignature, ...]


def check_checkpoint(note: bytes | Note, policy: Policy) -> VerifiedCheckpoint:
    """Verify a checkpoint note against ``policy``; raise, or say who signed and cosigned."""
    if not policy.logs:
        raise SignatureError("the policy lists no log keys, so no checkpoint can verify with it")
    parsed = note if isinstance(note, Note) else parse_note(note)
    log_verifiers: dict[tuple[str, int], PolicyLog] = {
        (log.key.name, log.key.key_id): log for log in policy.logs
    }
    witness_by_id: Mapping[tuple[str, int], PolicyWitness] = {
        (w.key.name, w.key.key_id): w for w in policy.witnesses
    }
    verifiers: list[NoteVerifier] = [log.verifier for log in policy.logs]
    verifiers += [w.verifier for w in policy.witnesses]
    opened = open_note(parsed, verifiers)
    signing_logs = [
        log_verifiers[(sig.name, sig.key_id)]
        for _, sig in opened.verified
        if (sig.name, sig.key_id) in log_verifiers
    ]
    if not signing_logs:
        names = ", ".join(sorted({s.name for _, s in opened.verified}))
        raise SignatureError(
            f"checkpoint is not signed by any log in the policy (only cosigned by {names})"
        )
    checkpoint = parse_checkpoint(opened.text)
    log = next((lg for lg in signing_logs if lg.key.name == checkpoint.origin), None)
    if log is None:
        raise SignatureError(
            f"checkpoint origin {checkpoint.origin!r} does not match the signing log's key name"
            f" {signing_logs[0].key.name!r}"
        )
    cosignatures = []
    witnessed: set[str] = set()
    for _, sig in opened.verified:
        witness = witness_by_id.get((sig.name, sig.key_id))
        if witness is not None:
            witnessed.add(witness.name)
            cosignatures.append(Cosignature.from_note_signature(sig))
    if not policy.quorum_met(witnessed):
        have = ", ".join(sorted(witnessed)) or "no witness"
        raise SignatureError(
            f"witness quorum {policy.quorum!r} not met: valid cosignatures from {have}"
            f" ({len(witnessed)} of {len(policy.witnesses)} policy witnesses)"
        )
    return VerifiedCheckpoint(
        checkpoint, log.key, tuple(sorted(witnessed)), tuple(cosignatures)
    )


def verify_checkpoint(note: bytes | Note, policy: Policy) -> Checkpoint:
    """The checkpoint in ``note``, once it satisfies ``policy``; SignatureError otherwise."""
    return check_checkpoint(note, policy).checkpoint
