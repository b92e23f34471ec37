"""``pausewatch-audit``: offline verification of what a pausewatch log publishes.

Subcommands::

    pausewatch-audit note verify --key VKEY [--key VKEY ...] FILE
    pausewatch-audit proof verify --policy POLICY --entry ENTRY_FILE PROOF_FILE

Exit status (DESIGN.md, Flow 5):

- **0** verified;
- **1** verification failed: the *evidence under audit* (note, tlog-proof, entry) does not
  verify, whether because a signature, proof or quorum check failed or because the evidence is
  malformed or over a limit: a mangled proof is as much a failure as a wrong one;
- **2** the tool could not run: bad arguments, an unreadable file, or a malformed *trust
  input* (a ``--key`` vkey, a policy file). Those are the auditor's own configuration, so a
  defect there says nothing about the evidence.

The reason for 1 or 2 goes to stderr as one line — also for a bug of ours (exit 2, "internal
error"): no input path ends in a traceback. ``--json`` (accepted before or after the
subcommand) prints one JSON object on stdout in every case::

    {"command": "proof verify", "ok": true | false, "result": "verified" | "failed" | "error",
     "exit_code": 0, "reason": null | "...", "error": "..." (only when not ok), ...details}

``audit verify --json`` details (also when it fails): the counts, checkpoints, witnesses,
``trusted_keys``, ``failures`` and ``verdicts``: each logged verdict with its status,
findings and evidence, and ``rerun`` (``match`` / ``mismatch`` / ``not re-run``) with the
re-derived status (see ``docs/cli.md``).

Adding a subcommand: write a module with ``register(subparsers)`` that adds its parsers and
sets ``handler`` (a function ``argparse.Namespace -> dict``; it returns details on success and
raises on failure) with ``parser.set_defaults(handler=...)``, then list its ``register`` in
:data:`COMMANDS`. Handlers raise :class:`TrustInputError` for defects in trust inputs and
:class:`ToolError` when they cannot run; any other pausewatch ``InputError`` means the evidence
failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from auditor.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    Handler,
    Subcommands,
    ToolError,
    TrustInputError,
    read_input_file,
)
from auditor.verify import register as register_verify
from pausewatch.entrypoint import describe_os_error, version_text
from pausewatch.errors import (
    EnvironmentFaultError,
    InputError,
    VerificationError,
)
from pausewatch.note import Ed25519NoteVerifier, NoteVerifier, open_note
from pausewatch.policy import Policy, parse_policy
from pausewatch.tlog_proof import parse_tlog_proof, verify_tlog_proof

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "Handler",
    "Subcommands",
    "ToolError",
    "TrustInputError",
    "main",
    "read_input_file",
    "register_note",
    "register_proof",
]

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise instead of exiting, so --json still works."""

    def error(self, message: str) -> NoReturn:
        raise ToolError(f"{self.prog}: {message}")


def _add_json_flag(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=default,
        help="print one machine-readable JSON result object on stdout",
    )


# --------------------------------------------------------------------------- note verify


def _load_vkeys(texts: Sequence[str]) -> list[NoteVerifier]:
    verifiers: list[NoteVerifier] = []
    for text in texts:
        try:
            verifiers.append(Ed25519NoteVerifier.from_vkey(text.strip()))
        except InputError as e:
            raise TrustInputError(f"--key {text[:80]!r}: {e}") from e
    return verifiers


def _note_verify(args: argparse.Namespace) -> dict[str, Any]:
    verifiers = _load_vkeys(args.key)
    data = read_input_file(args.file, "note file")
    opened = open_note(data, verifiers)
    return {
        "file": str(args.file),
        "verified_by": [f"{s.name}+{s.key_id:08x}" for _, s in opened.verified],
        "unverified_signatures": [f"{s.name}+{s.key_id:08x}" for s in opened.unverified],
        "text": opened.text,
        "summary": "note signed by " + ", ".join(f"{s.name}+{s.key_id:08x}" for _, s in opened.verified),
    }


def register_note(subparsers: Subcommands) -> None:
    """``note verify``: check a C2SP signed note against trusted vkeys."""
    note = subparsers.add_parser(
        "note", help="signed notes (c2sp.org/signed-note)", description="Signed-note commands."
    )
    _add_json_flag(note, argparse.SUPPRESS)
    actions = note.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="verify a signed note against one or more trusted keys",
        description=(
            "Verify that FILE is a signed note with a valid signature from at least one --key."
            " Signatures from other keys are ignored; a bad signature from a given key fails."
        ),
    )
    verify.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="VKEY",
        help="trusted verifier key, <name>+<key ID>+<base64> (repeatable)",
    )
    verify.add_argument("file", type=Path, metavar="FILE", help="the signed note")
    _add_json_flag(verify, argparse.SUPPRESS)
    verify.set_defaults(handler=_note_verify, command="note verify")


# --------------------------------------------------------------------------- proof verify


def _load_policy(path: Path) -> Policy:
    data = read_input_file(path, "policy file")
    try:
        return parse_policy(data)
    except InputError as e:
        raise TrustInputError(f"policy {str(path)!r}: {e}") from e


def _proof_verify(args: argparse.Namespace) -> dict[str, Any]:
    policy = _load_policy(args.policy)
    entry = read_input_file(args.entry, "entry file")
    proof = parse_tlog_proof(read_input_file(args.proof, "proof file"))
    verified = verify_tlog_proof(proof, entry, policy)
    cp = verified.checkpoint
    return {
        "proof": str(args.proof),
        "entry": str(args.entry),
        "index": proof.index,
        "log": verified.log.format(),
        "origin": cp.origin,
        "tree_size": cp.size,
        "root_hash": cp.root_hash.hex(),
        "witnesses": list(verified.witnesses),
        "cosignature_times": [c.timestamp for c in verified.cosignatures],
        "summary": (
            f"entry {proof.index} is in {cp.origin} at size {cp.size}"
            f" (witnesses: {', '.join(verified.witnesses) or 'none required'})"
        ),
    }


def register_proof(subparsers: Subcommands) -> None:
    """``proof verify``: check a tlog-proof for an entry against a tlog-policy."""
    proof = subparsers.add_parser(
        "proof",
        help="offline proofs of logging (c2sp.org/tlog-proof)",
        description="tlog-proof commands.",
    )
    _add_json_flag(proof, argparse.SUPPRESS)
    actions = proof.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="verify that an entry is in a log, per a checkpoint the policy accepts",
        description=(
            "Verify PROOF_FILE (c2sp.org/tlog-proof@v1) for the raw leaf data in ENTRY_FILE: the"
            " checkpoint must be signed by a log in POLICY and cosigned to its witness quorum,"
            " and the inclusion proof must lead from SHA-256(0x00 || entry) to its root."
        ),
    )
    verify.add_argument(
        "--policy", type=Path, required=True, metavar="POLICY", help="c2sp.org/tlog-policy file"
    )
    verify.add_argument("--entry", type=Path, required=True, metavar="ENTRY_FILE", help="the raw leaf data")
    verify.add_argument("proof", type=Path, metavar="PROOF_FILE", help="the .tlog-proof file")
    _add_json_flag(verify, argparse.SUPPRESS)
    verify.set_defaults(handler=_proof_verify, command="proof verify")


# --------------------------------------------------------------------------- main

COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    register_note,
    register_proof,
    register_verify,
)
"""Each registers one top-level subcommand; add new ones here."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pausewatch-audit",
        description=(
            "Verify pausewatch evidence offline. Exit 0: verified; 1: verification failed;"
            " 2: the tool could not run (bad arguments, unreadable file, malformed key or"
            " policy)."
        ),
    )
    _add_json_flag(parser, False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def _emit(as_json: bool, command: str, code: int, reason: str | None, details: dict[str, Any]) -> None:
    result = {EXIT_OK: "verified", EXIT_FAILED: "failed"}.get(code, "error")
    if reason is not None:
        prefix = "" if reason.startswith("pausewatch-audit") else f"pausewatch-audit: {command}: "
        print((prefix + reason).replace("\n", " "), file=sys.stderr)
    if as_json:
        out: dict[str, Any] = {"command": command, "ok": code == EXIT_OK, "result": result}
        out |= {"exit_code": code, "reason": reason}
        if reason is not None:
            out["error"] = reason
        out.update(details)
        print(json.dumps(out, sort_keys=True))
    elif code == EXIT_OK:
        print(f"verified: {details.get('summary', command)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one handler, map its outcome to an exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args_list
    command = "pausewatch-audit"
    try:
        args = build_parser().parse_args(args_list)
        command = args.command
        as_json = bool(getattr(args, "json", as_json))
        handler: Handler = args.handler
        details = handler(args)
    except SystemExit as e:  # --help, --version
        return int(e.code) if isinstance(e.code, int) else EXIT_OK
    except (ToolError, EnvironmentFaultError) as e:
        _emit(as_json, command, EXIT_ERROR, str(e), {})
        return EXIT_ERROR
    except (VerificationError, InputError) as e:
        _emit(as_json, command, EXIT_FAILED, str(e), getattr(e, "details", {}))
        return EXIT_FAILED
    except OSError as e:  # the environment (permissions, a full disk) where no step said more
        _emit(as_json, command, EXIT_ERROR, describe_os_error(e), {})
        return EXIT_ERROR
    except KeyboardInterrupt:
        _emit(as_json, command, EXIT_ERROR, "interrupted", {})
        return EXIT_ERROR
    except Exception as e:  # our bug, or a foreign one: still exit 2, one line
        reason = f"internal error, a bug in pausewatch-audit ({type(e).__name__}: {e}); evidence unjudged"
        _emit(as_json, command, EXIT_ERROR, reason, {})
        return EXIT_ERROR
    _emit(as_json, command, EXIT_OK, None, details)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
