"""``pausewatch-verifier commitment sign``: TOML commitment → envelope signed by lab keys.

    pausewatch-verifier commitment sign --key LAB1 [--key LAB2 ...] --in commitment.toml --out commitment.env

The TOML format is documented in ``pausewatch.commitment``. The command parses and validates
the file (errors name the file, line and field; exit 2), signs the exact payload bytes with
every ``--key`` (k-of-n: give at least ``signatures_required`` keys, or exit 2), re-verifies the
written envelope against those keys, and writes it without overwriting an existing file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.documents import verify_lab_commitment
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import InputError
from pausewatch.files.keyfile import load_key_file
from pausewatch.roots import LabRoot
from verifier.admin_cmd import commitment_subparsers
from verifier.cli import EXIT_OK, CommandError, emit, write_output

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``sign`` to the ``commitment`` command (registered by ``verifier.admin_cmd``)."""
    actions = commitment_subparsers()
    if actions is None:
        raise CommandError("verifier.commitment_cli must be registered after verifier.admin_cmd")
    sign = actions.add_parser(
        "sign",
        help="sign a commitment TOML file with lab keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sign.add_argument(
        "--key", type=Path, action="append", required=True, help="lab key file (repeat for k-of-n)"
    )
    sign.add_argument("--in", dest="input", type=Path, required=True, help="commitment TOML")
    sign.add_argument("--out", type=Path, required=True, help="signed envelope to write")
    sign.add_argument("--force", action="store_true", help="replace --out if it exists")
    sign.set_defaults(run=_sign)


def _sign(args: argparse.Namespace) -> int:
    try:
        text = args.input.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"{args.input}: cannot read: {e}") from e
    message = commitment_from_toml(text, str(args.input))
    signers = []
    for path in args.key:
        try:
            signers.append(load_key_file(path))
        except InputError as e:
            raise CommandError(f"--key {path}: {e}") from e
    distinct = {s.public_key.raw for s in signers}
    required = max(1, message.signatures_required)
    if len(distinct) < required:
        raise CommandError(
            f"{args.input}: signatures_required is {required} but {len(distinct)} distinct --key given"
        )
    envelope = sign_envelope(PayloadType.COMMITMENT, message.SerializeToString(deterministic=True), signers)
    # what a verifier will check, with the signers' keys as the lab's trust root
    lab = LabRoot(message.lab_id, tuple(s.public_key for s in signers), tuple(message.facility_ids))
    commitment = Commitment.from_wire(verify_lab_commitment(parse_envelope(envelope), (lab,))[1])
    write_output(args.out, envelope, force=args.force)
    emit(
        args,
        {
            "out": str(args.out),
            "commitment_id": commitment.commitment_id,
            "version": commitment.version,
            "signatures": len(signers),
            "signatures_required": commitment.signatures_required,
        },
        f"signed commitment {commitment.commitment_id} v{commitment.version}"
        f" ({len(signers)} signature(s)) -> {args.out}",
    )
    return EXIT_OK
