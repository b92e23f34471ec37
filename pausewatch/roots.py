"""The auditor's trust roots beyond the log: lab keys, the verdict key, the challenge key.

The C2SP tlog-policy (``policy.txt``) says which log and witnesses to believe; it has no place
for the keys that sign *entries*, so they live in a second small file, ``roots.toml``::

    format = "pausewatch-audit-roots"
    version = 1
    verdict_key = "<base64 raw Ed25519 key, or a C2SP vkey>"
    challenge_key = "<same>"
    max_clock_skew_s = 120.0          # the verifier's [challenge] max_clock_skew_s

    [[labs]]
    lab_id = "lab-1"
    public_keys = ["<base64 raw key or vkey>", ...]
    facilities = ["fac-a"]            # the facilities this lab may declare
    inventory_threshold = 1           # k of the lab's keys must sign an inventory

    [[parties]]                       # parties to multilateral terms (pausewatch.terms)
    party_id = "party-a"
    public_keys = ["<base64 raw key or vkey>", ...]

It mirrors the verifier's ``[[labs]]`` and ``[[parties]]`` configuration. An export ships the verifier's own
copy; a careful auditor brings their own (``--roots``), checked out of band, as they bring
their own ``--policy``. Node and meter keys are never roots: they come only from lab-signed,
logged inventories.

A third trust input is a checkpoint the auditor fetched from a witness it trusts
(:func:`check_witness_checkpoint`, ``pausewatch-audit verify --witness-checkpoint``): the bundle
must agree with what that witness cosigned, or the log showed two histories.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from pausewatch.checkpoint import Checkpoint
from pausewatch.errors import FormatError, InputError, VerificationError
from pausewatch.keys import Ed25519Key
from pausewatch.note import ed25519_key_from_text
from pausewatch.policy import QUORUM_NONE, Policy, check_checkpoint
from pausewatch.reports import check_id
from pausewatch.tomlread import Document, Table, format_path

__all__ = [
    "ROOTS_FORMAT",
    "ROOTS_VERSION",
    "AuditRoots",
    "LabRoot",
    "PartyRoot",
    "WitnessCheckpointCheck",
    "check_witness_checkpoint",
    "format_roots",
    "parse_key_text",
    "parse_roots",
    "read_key",
    "read_lab_roots",
    "read_party_roots",
]

ROOTS_FORMAT: Final = "pausewatch-audit-roots"
ROOTS_VERSION: Final = 1
_MAX_ROOTS_BYTES: Final = 1 << 20
_MAX_LABS: Final = 1024
_MAX_KEYS: Final = 64


@dataclass(frozen=True)
class LabRoot:
    """A lab the auditor trusts to declare inventories and sign commitments."""

    lab_id: str
    keys: tuple[Ed25519Key, ...]
    facilities: tuple[str, ...]
    inventory_threshold: int = 1

    def __post_init__(self) -> None:
        if not self.keys:
            raise FormatError(f"lab {self.lab_id!r} has no public keys")
        if not 1 <= self.inventory_threshold <= len(self.keys):
            raise FormatError(
                f"lab {self.lab_id!r}: inventory_threshold {self.inventory_threshold} must be"
                f" between 1 and its {len(self.keys)} keys"
            )


@dataclass(frozen=True)
class PartyRoot:
    """A party the auditor trusts to co-sign multilateral terms."""

    party_id: str
    keys: tuple[Ed25519Key, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise FormatError(f"party {self.party_id!r} has no public keys")


@dataclass(frozen=True)
class AuditRoots:
    labs: tuple[LabRoot, ...]
    verdict_key: Ed25519Key
    challenge_key: Ed25519Key
    max_clock_skew_ns: int = 120 * 1_000_000_000
    parties: tuple[PartyRoot, ...] = ()

    def party_keys(self) -> dict[str, tuple[Ed25519Key, ...]]:
        return {p.party_id: p.keys for p in self.parties}

    def lab(self, lab_id: str) -> LabRoot | None:
        return next((lab for lab in self.labs if lab.lab_id == lab_id), None)


def parse_key_text(text: str, where: str) -> Ed25519Key:
    """A key given as base64 of the raw 32 bytes, or as a C2SP vkey (type Ed25519)."""
    return ed25519_key_from_text(text, where)


def parse_roots(data: bytes, *, source: str = "roots.toml") -> AuditRoots:
    """Parse a roots file; every error names the file, the line and the key."""
    doc = Document.parse_bytes(data, source, max_bytes=_MAX_ROOTS_BYTES)
    root = doc.root
    root.only("format", "version", "verdict_key", "challenge_key", "max_clock_skew_s", "labs", "parties")
    form = root.raw("format")
    if form != ROOTS_FORMAT:
        raise root.fail("format", f"must be {ROOTS_FORMAT!r}, got {form!r}")
    version = root.raw("version")
    if version != ROOTS_VERSION:
        raise root.fail("version", f"{version!r} is not supported (this auditor reads {ROOTS_VERSION})")
    verdict = read_key(root, "verdict_key")
    challenge = read_key(root, "challenge_key")
    skew = root.number("max_clock_skew_s", 120.0, minimum=0, maximum=86_400)
    labs = read_lab_roots(root)
    return AuditRoots(labs, verdict, challenge, int(skew * 1_000_000_000), read_party_roots(root))


def read_key(table: Table, key: str, index: int | None = None) -> Ed25519Key:
    """A key written as base64 of the raw 32 bytes or as a C2SP vkey: ``table[key]``, or its
    ``index``-th string when the key holds an array (already read)."""
    if index is None:
        text = table.string(key, nonempty=True)
        path = table.key_path(key)
    else:
        text = table.data[key][index]
        path = (*table.path, key, index)
    name = format_path(path)
    try:
        return parse_key_text(text, name)
    except InputError as e:
        raise table.doc.error(path, str(e).removeprefix(f"{name}: ")) from None


def _keys(table: Table) -> tuple[Ed25519Key, ...]:
    texts = table.strings("public_keys", max_items=_MAX_KEYS)
    if not texts:
        raise table.fail("public_keys", "must list at least one key")
    return tuple(read_key(table, "public_keys", j) for j in range(len(texts)))


def _id(table: Table, key: str) -> str:
    return _checked_id(table, key, table.string(key))


def _checked_id(table: Table, key: str, value: str) -> str:
    return table.checked(key, check_id, value, "id")


def read_lab_roots(root: Table) -> tuple[LabRoot, ...]:
    """``[[labs]]``: the labs trusted to declare inventories and sign commitments, each once
    (a roots file and the verifier's configuration alike)."""
    labs: list[LabRoot] = []
    for t in root.tables("labs", max_items=_MAX_LABS):
        t.only("lab_id", "public_keys", "facilities", "inventory_threshold")
        lab_id = _id(t, "lab_id")
        if any(lab.lab_id == lab_id for lab in labs):
            raise t.fail("lab_id", f"lab {lab_id!r} is listed twice")
        keys = _keys(t)
        facilities = tuple(_checked_id(t, "facilities", f) for f in t.strings("facilities"))
        threshold = t.integer("inventory_threshold", 1, minimum=1, maximum=len(keys))
        labs.append(LabRoot(lab_id, keys, facilities, threshold))
    return tuple(labs)


def read_party_roots(root: Table) -> tuple[PartyRoot, ...]:
    """``[[parties]]``: the parties to multilateral terms, each once, with at least one key;
    a key belongs to one party."""
    parties: list[PartyRoot] = []
    owners: dict[bytes, str] = {}
    for t in root.tables("parties", max_items=_MAX_LABS):
        t.only("party_id", "public_keys")
        party_id = _id(t, "party_id")
        if any(p.party_id == party_id for p in parties):
            raise t.fail("party_id", f"party {party_id!r} is listed twice")
        keys = _keys(t)
        for key in keys:
            if owners.setdefault(key.raw, party_id) != party_id:
                raise t.fail("public_keys", f"a key of party {owners[key.raw]!r} too")
        parties.append(PartyRoot(party_id, keys))
    return tuple(parties)


def format_roots(roots: AuditRoots) -> bytes:
    """Write a roots file that :func:`parse_roots` reads back to the same roots."""

    def b64(key: Ed25519Key) -> str:
        return base64.b64encode(key.raw).decode("ascii")

    def quoted(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(f'"{s}"' for s in items) + "]"

    lines = [
        f'format = "{ROOTS_FORMAT}"',
        f"version = {ROOTS_VERSION}",
        f'verdict_key = "{b64(roots.verdict_key)}"',
        f'challenge_key = "{b64(roots.challenge_key)}"',
        f"max_clock_skew_s = {roots.max_clock_skew_ns / 1_000_000_000!r}",
    ]
    for lab in roots.labs:
        lines += [
            "",
            "[[labs]]",
            f'lab_id = "{lab.lab_id}"',
            f"public_keys = {quoted([b64(k) for k in lab.keys])}",
            f"facilities = {quoted(lab.facilities)}",
            f"inventory_threshold = {lab.inventory_threshold}",
        ]
    for party in roots.parties:
        lines += [
            "",
            "[[parties]]",
            f'party_id = "{party.party_id}"',
            f"public_keys = {quoted([b64(k) for k in party.keys])}",
        ]
    return ("\n".join(lines) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- witness checkpoints


@dataclass(frozen=True)
class WitnessCheckpointCheck:
    """A checkpoint a witness served, and what it was compared with in the bundle."""

    checkpoint: Checkpoint
    witnesses: tuple[str, ...]


def check_witness_checkpoint(
    note: bytes, policy: Policy, bundle_roots: Mapping[int, bytes], head_size: int
) -> WitnessCheckpointCheck:
    """A cosigned checkpoint the auditor brought from a witness (its ``/checkpoint/<origin>``
    answer) agrees with the bundle, or raise VerificationError naming the disagreement.

    It must be signed by a log of ``policy`` and cosigned by at least one of its witnesses.
    Every checkpoint the log signed is in a full export, so one at or below the bundle's head
    must have the root of the bundle's checkpoint of its size — another root is a split view,
    no checkpoint of that size means the bundle leaves out one the log showed a witness. A
    checkpoint beyond the head cannot be compared: export a newer bundle.
    """
    try:
        verified = check_checkpoint(note, replace(policy, quorum=QUORUM_NONE))
    except InputError as e:
        raise VerificationError(f"does not verify under the policy: {e}") from e
    if not verified.witnesses:
        raise VerificationError("carries no cosignature by a witness of the policy")
    cp = verified.checkpoint
    who = ", ".join(verified.witnesses)
    if cp.size > head_size:
        raise VerificationError(
            f"cosigned by {who} at size {cp.size}, beyond the bundle's head {head_size}: it cannot be"
            " checked against this bundle; export one that reaches it"
        )
    root = bundle_roots.get(cp.size)
    if root is None:
        raise VerificationError(
            f"cosigned by {who} at size {cp.size}, but the bundle holds no checkpoint of that size:"
            " the log showed the witness a checkpoint the bundle leaves out"
        )
    if root != cp.root_hash:
        raise VerificationError(
            f"SPLIT VIEW: {who} cosigned size {cp.size} with root"
            f" {base64.b64encode(cp.root_hash).decode()}, the bundle's checkpoint of that size has"
            f" {base64.b64encode(root).decode()}"
        )
    return WitnessCheckpointCheck(cp, verified.witnesses)
