"""Operator commands: key generation, inventory signing, document submission.

``keygen`` writes an Ed25519 key file (0600, never overwriting) and prints its public forms:
base64 raw (for trust roots and inventories), key id, and with ``--name`` the C2SP vkey (the
log key's name must be the log origin).

Inventory TOML (``inventory sign --in``)::

    facility_id = "fac-a"
    lab_id = "lab-1"
    version = 1
    [overhead]
    min_ratio = 1.05
    max_ratio = 1.6
    fixed_load_w = 0        # optional: W the intake meters see outside every node
    [[nodes]]
    node_id = "a-node-01"
    attestor_public_key = "<base64 raw 32 bytes>"
    location = "hall 1"
    [[nodes.accelerators]]
    uuid = "GPU-..."
    model = "NVIDIA H100 80GB HBM3"
    serial = "..."
    [[meters]]
    meter_id = "a-meter"
    public_key = "<base64>"
    scope = "facility"      # or "nodes" with node_ids = [...]
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from pausewatch.addresses import is_loopback
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import InputError
from pausewatch.files.keyfile import generate_key_file, load_key_file
from pausewatch.inventory import inventory_from_toml
from pausewatch.keys import Signer
from pausewatch.note import Ed25519NoteVerifier
from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc
from verifier.cli import EXIT_OK, CheckFailedError, CommandError, emit, write_output

__all__ = ["add_client_flags", "client_channel", "register"]


def register(subparsers: Any) -> None:
    keygen = subparsers.add_parser("keygen", help="create an Ed25519 key file and print its public key")
    keygen.add_argument("--out", type=Path, required=True, help="key file to create (mode 0600)")
    keygen.add_argument("--name", help="key name for the printed vkey (the log origin for the log key)")
    keygen.set_defaults(run=_keygen)

    inventory = subparsers.add_parser("inventory", help="sign or submit a facility inventory")
    inv_sub = inventory.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = inv_sub.add_parser("sign", help="sign an inventory TOML file with lab keys")
    sign.add_argument(
        "--key", type=Path, action="append", required=True, help="lab key file (repeat for k-of-n)"
    )
    sign.add_argument("--in", dest="input", type=Path, required=True, help="inventory TOML")
    sign.add_argument("--out", type=Path, required=True, help="signed envelope to write")
    sign.add_argument("--force", action="store_true", help="replace --out if it exists")
    sign.set_defaults(run=_inventory_sign)
    submit = inv_sub.add_parser("submit", help="submit a signed inventory envelope to a verifier")
    _submit_flags(submit)
    submit.set_defaults(run=lambda a: _submit(a, "SubmitInventory"))

    commitment = subparsers.add_parser("commitment", help="submit a signed commitment")
    com_sub = commitment.add_subparsers(dest="action", required=True, metavar="ACTION")
    csubmit = com_sub.add_parser("submit", help="submit a signed commitment envelope to a verifier")
    _submit_flags(csubmit)
    csubmit.set_defaults(run=lambda a: _submit(a, "SubmitCommitment"))
    global _COMMITMENT_SUBPARSERS  # noqa: PLW0603  # lets the evaluation module add `commitment sign`
    _COMMITMENT_SUBPARSERS = com_sub


_COMMITMENT_SUBPARSERS: Any = None


def commitment_subparsers() -> Any:
    """The ``commitment`` subcommand's subparsers, for modules that add actions to it."""
    return _COMMITMENT_SUBPARSERS


def add_client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", required=True, help="verifier host:port")
    p.add_argument("--tls-ca", type=Path, help="CA certificate of the verifier (enables TLS)")
    p.add_argument("--tls-cert", type=Path, help="client certificate (mutual TLS)")
    p.add_argument("--tls-key", type=Path, help="client key (mutual TLS)")
    p.add_argument("--server-name", help="TLS server name override")
    p.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds (default 10)")


def _submit_flags(p: argparse.ArgumentParser) -> None:
    add_client_flags(p)
    p.add_argument("--in", dest="input", type=Path, required=True, help="signed envelope file")


def client_channel(args: argparse.Namespace) -> grpc.Channel:
    if args.tls_ca is None:
        if not is_loopback(args.address):
            print(
                f"pausewatch-verifier: warning: no --tls-ca: talking to {args.address} in plaintext"
                " (anyone on the path can read and alter it)",
                file=sys.stderr,
            )
        return grpc.insecure_channel(args.address)
    try:
        ca = args.tls_ca.read_bytes()
        cert = args.tls_cert.read_bytes() if args.tls_cert else None
        key = args.tls_key.read_bytes() if args.tls_key else None
    except OSError as e:
        raise CommandError(f"cannot read a TLS file: {e}") from e
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.address, creds, options=options)


def _keygen(args: argparse.Namespace) -> int:
    signer = generate_key_file(args.out)
    raw = signer.public_key.raw
    result: dict[str, Any] = {
        "key_file": str(args.out),
        "public_key": base64.b64encode(raw).decode(),
        "key_id": signer.public_key.key_id,
    }
    if args.name:
        try:
            result["vkey"] = Ed25519NoteVerifier(args.name, signer.public_key).vkey
        except InputError as e:
            raise CommandError(f"--name: {e}") from e
    emit(args, result, "\n".join(f"{k}: {v}" for k, v in result.items()))
    return EXIT_OK


def _inventory_sign(args: argparse.Namespace) -> int:
    signers: list[Signer] = [load_key_file(p) for p in args.key]
    try:
        text = args.input.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"{args.input}: cannot read inventory TOML: {e}") from e
    inventory = inventory_from_toml(text, str(args.input), issued_ns=time.time_ns())
    envelope = sign_envelope(PayloadType.INVENTORY, inventory.SerializeToString(deterministic=True), signers)
    write_output(args.out, envelope, force=args.force)
    emit(
        args,
        {"out": str(args.out), "facility_id": inventory.facility_id, "version": inventory.version},
        f"signed inventory {inventory.facility_id} v{inventory.version} -> {args.out}",
    )
    return EXIT_OK


def _submit(args: argparse.Namespace, method: str) -> int:
    try:
        envelope = args.input.read_bytes()
    except OSError as e:
        raise CommandError(f"{args.input}: cannot read: {e}") from e
    parse_envelope(envelope)  # a malformed file is the operator's error: exit 2 before sending
    return submit_envelope(args, envelope, method)


def submit_envelope(args: argparse.Namespace, envelope: bytes, method: str) -> int:
    """Send one signed document with the ``Submit…`` RPC ``method``; print its receipt."""
    with client_channel(args) as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        try:
            response = getattr(stub, method)(
                verifier_pb2.SubmitSignedRequest(envelope=envelope), timeout=args.timeout
            )
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise CommandError(f"verifier unreachable: {e.details()}") from e
            raise CheckFailedError(f"{code.name}: {e.details()}") from e
    emit(
        args,
        {"log_index": response.receipt.log_index, "version": response.version},
        f"accepted: version {response.version}, log index {response.receipt.log_index}",
    )
    return EXIT_OK
