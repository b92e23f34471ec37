"""The reference every other figure is compared with: raw single-thread Ed25519 rates."""

from __future__ import annotations

import time

from pausewatch.keys import Ed25519Signer


def ed25519_verify_rate(seconds: float = 1.0) -> float:
    """Single-thread Ed25519 verifications per second of a 2 KiB message (a report's size)."""
    signer = Ed25519Signer.generate()
    message = bytes(range(256)) * 8
    sig = signer.sign(message)
    key = signer.public_key
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            key.verify(sig, message)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def ed25519_sign_rate(seconds: float = 1.0) -> float:
    signer = Ed25519Signer.generate()
    message = bytes(range(256)) * 8
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            signer.sign(message)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def run(quick: bool = False) -> dict[str, float]:
    seconds = 0.2 if quick else 1.0
    return {
        "verify_per_s": round(ed25519_verify_rate(seconds), 1),
        "sign_per_s": round(ed25519_sign_rate(seconds), 1),
    }
