"""RFC 8032 section 7.1 Ed25519 KATs through pausewatch.keys (what every note signature uses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pausewatch.errors import SignatureError
from pausewatch.keys import Ed25519Key, Ed25519Signer

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "rfc8032-ed25519-section-7.1.json").read_text("utf-8")
)


@pytest.mark.parametrize("case", VECTORS["vectors"], ids=lambda c: c["name"])
def test_rfc8032_kat(case: dict[str, Any]) -> None:
    seed = bytes.fromhex(case["secret_key"])
    public = bytes.fromhex(case["public_key"])
    message = bytes.fromhex(case["message"])
    signature = bytes.fromhex(case["signature"])
    signer = Ed25519Signer.from_seed(seed)
    assert signer.public_key.raw == public
    assert signer.sign(message) == signature
    Ed25519Key(public).verify(signature, message)
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(SignatureError):
        Ed25519Key(public).verify(tampered, message)
    with pytest.raises(SignatureError):
        Ed25519Key(public).verify(signature, message + b"\x00")
