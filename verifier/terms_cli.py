"""``pausewatch-verifier terms``: sign, co-sign, submit and show multilateral terms.

::

    pausewatch-verifier terms sign --key PARTYKEY [--key ...] --in terms.toml --out terms.env
    pausewatch-verifier terms sign --key PARTYKEY --in terms.env --out cosigned.env   # co-sign
    pausewatch-verifier terms submit --address H:P --in terms.env [TLS flags]
    pausewatch-verifier terms show --in terms.env [--config verifier.toml]
    pausewatch-verifier terms show --config verifier.toml [--state-dir DIR]       # the log's terms

The TOML format is documented in :mod:`pausewatch.terms` and ``docs/terms.md``. ``sign`` parses
and validates a TOML file (errors name the file, line and field; exit 2) and signs the exact
payload bytes with every ``--key``; given a signed envelope instead, it adds the signatures of
``--key`` to it (each party signs on its own machine, with its own key). The envelope written
is re-checked (every signature verifies) and never overwrites a file. ``submit`` sends it to a
verifier (exit 1 when refused: no quorum, an unknown signer, a contradicting version).
``show`` prints the terms and who signed them — with ``--config``, by party, and whether the
quorum is met under that configuration's ``[[parties]]`` (exit 1 when not); without ``--in``,
every version the verifier has logged, with its log index, arrival time and signing parties.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from pausewatch.commitment import WORKLOAD_NAMES
from pausewatch.envelope import PayloadType, pae, parse_envelope, sign_envelope, verify_envelope
from pausewatch.errors import InputError
from pausewatch.files.keyfile import load_key_file
from pausewatch.keys import Signer
from pausewatch.terms import Terms, terms_from_toml, verify_terms
from pausewatch.v1 import types_pb2
from verifier.admin_cmd import add_client_flags, submit_envelope
from verifier.cli import EXIT_FAILED, EXIT_OK, CommandError, emit, write_output
from verifier.config import load_config, with_overrides
from verifier.sqlite_storage import SqliteStorage

__all__ = ["register"]

_NAMES = {v: k for k, v in WORKLOAD_NAMES.items()}


def register(subparsers: Any) -> None:
    terms = subparsers.add_parser(
        "terms",
        help="sign, co-sign, submit or show multilateral terms",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = terms.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = actions.add_parser(
        "sign",
        help="sign a terms TOML file, or co-sign a signed terms envelope, with party keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sign.add_argument("--key", type=Path, action="append", required=True, help="party key file (repeatable)")
    sign.add_argument("--in", dest="input", type=Path, required=True, help="terms TOML, or a signed envelope")
    sign.add_argument("--out", type=Path, required=True, help="signed envelope to write (not overwritten)")
    sign.set_defaults(run=_sign)
    submit = actions.add_parser("submit", help="submit a signed terms envelope to a verifier")
    add_client_flags(submit)
    submit.add_argument("--in", dest="input", type=Path, required=True, help="signed envelope file")
    submit.set_defaults(run=_submit)
    show = actions.add_parser(
        "show",
        help="show a signed terms envelope, or the terms a verifier has logged",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("--in", dest="input", type=Path, help="signed terms envelope")
    show.add_argument("--config", type=Path, help="verifier configuration ([[parties]], state_dir)")
    show.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    show.set_defaults(run=_show)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CommandError(f"{path}: cannot read: {e.strerror}") from e


def _write_new(path: Path, data: bytes) -> None:
    write_output(path, data)


def _signers(paths: list[Path]) -> list[Signer]:
    signers: list[Signer] = []
    for path in paths:
        try:
            signers.append(load_key_file(path))
        except InputError as e:
            raise CommandError(f"--key {path}: {e}") from e
    if len({s.public_key.raw for s in signers}) != len(signers):
        raise CommandError("--key: the same key is given twice")
    return signers


def _decode(raw: bytes, source: str) -> tuple[types_pb2.Envelope, Terms]:
    try:
        env = parse_envelope(raw)
    except InputError as e:
        raise CommandError(f"{source}: not a signed envelope: {e}") from e
    if env.payload_type != PayloadType.TERMS:
        raise CommandError(f"{source}: a {env.payload_type} envelope, not terms")
    wire = types_pb2.Envelope()
    wire.ParseFromString(raw)
    msg = types_pb2.Terms()
    msg.ParseFromString(env.payload)
    try:
        return wire, Terms.from_wire(msg)
    except InputError as e:
        raise CommandError(f"{source}: {e}") from e


def _sign(args: argparse.Namespace) -> int:
    raw = _read(args.input)
    signers = _signers(args.key)
    if not _is_envelope(raw):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CommandError(f"{args.input}: neither UTF-8 TOML nor a signed envelope") from e
        message = terms_from_toml(text, str(args.input))
        envelope = sign_envelope(PayloadType.TERMS, message.SerializeToString(deterministic=True), signers)
    else:
        wire, _ = _decode(raw, str(args.input))
        present = {s.keyid for s in wire.signatures}
        body = pae(wire.payload_type, wire.payload)
        for s in signers:
            if s.public_key.key_id in present:
                raise CommandError(f"--key: key {s.public_key.key_id[:16]} has already signed {args.input}")
            wire.signatures.add(keyid=s.public_key.key_id, sig=s.sign(body))
        envelope = wire.SerializeToString(deterministic=True)
    parsed = parse_envelope(envelope)
    for s in signers:  # ours verify; the others' are checked by `show --config` and the verifier
        verify_envelope(parsed, s.public_key)
    _, terms = _decode(envelope, str(args.out))
    _write_new(args.out, envelope)
    emit(
        args,
        {
            "out": str(args.out),
            "terms_id": terms.terms_id,
            "version": terms.version,
            "signatures": len(parsed.signatures),
            "signatures_required": terms.signatures_required,
            "parties": list(terms.party_ids),
        },
        f"signed terms {terms.terms_id} v{terms.version} ({len(parsed.signatures)} signature(s);"
        f" {terms.signatures_required} of {', '.join(terms.party_ids)} required) -> {args.out}",
    )
    return EXIT_OK


def _is_envelope(raw: bytes) -> bool:
    try:
        parse_envelope(raw)
    except InputError:
        return False
    return True


def _submit(args: argparse.Namespace) -> int:
    envelope = _read(args.input)
    _decode(envelope, str(args.input))  # a malformed file is the operator's error: exit 2
    return submit_envelope(args, envelope, "SubmitTerms")


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _describe(terms: Terms) -> dict[str, Any]:
    r, t = terms.reporting, terms.tolerances
    return {
        "terms_id": terms.terms_id,
        "version": terms.version,
        "parties": list(terms.party_ids),
        "signatures_required": terms.signatures_required,
        "labs": [{"lab_id": lab.lab_id, "facilities": list(lab.facility_ids) or "all"} for lab in terms.labs],
        "window": {"start": _iso(terms.window_start_ns), "end": _iso(terms.window_end_ns)},
        "rules": {
            "compute_cap_flop": terms.compute_cap_flop,
            "allowed_workloads": sorted(_NAMES[w] for w in terms.allowed_workloads),
            "power_caps": {pc.facility_id: pc.max_power_w for pc in terms.power_caps},
        },
        "reporting": {
            "max_report_interval_s": r.max_report_interval_ns / 1e9,
            "max_gap_s": r.max_gap_ns / 1e9,
            "bucket_s": r.bucket_ns / 1e9,
            "timeout_intervals": r.timeout_intervals,
            "min_inventory_coverage": r.min_inventory_coverage,
            "min_time_coverage": r.min_time_coverage,
        },
        "tolerances": {
            "overhead_min_ratio": t.overhead_min_ratio,
            "overhead_max_ratio": t.overhead_max_ratio,
            "calibration_s": t.calibration_ns / 1e9,
            "max_overhead_drift": t.max_overhead_drift,
            "max_fixed_load_w": t.max_fixed_load_w,
            "max_meter_accuracy": t.max_meter_accuracy,
        },
        "description": terms.description,
    }


def _facilities(listed: Any) -> str:
    return "every facility" if listed == "all" else ", ".join(listed)


def _text(d: dict[str, Any]) -> list[str]:
    labs = "; ".join(
        f"{lab['lab_id']} ({_facilities(lab['facilities'])})"
        for lab in d["labs"]
    )
    lines = [
        f"terms {d['terms_id']} v{d['version']}: {d['signatures_required']} of {', '.join(d['parties'])}",
        f"  labs: {labs}",
        f"  window: {d['window']['start']} .. {d['window']['end']}",
    ]
    for section in ("rules", "reporting", "tolerances"):
        lines.append(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in d[section].items()))
    return lines


def _show(args: argparse.Namespace) -> int:
    if args.input is None and args.config is None:
        raise CommandError("give --in (a signed terms envelope) or --config (the verifier's logged terms)")
    config = None
    if args.config is not None:
        config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    if args.input is None:
        return _show_logged(args, config)
    raw = _read(args.input)
    wire, terms = _decode(raw, str(args.input))
    result = _describe(terms)
    result["signatures"] = [s.keyid for s in wire.signatures]
    lines = _text(result)
    code = EXIT_OK
    if config is not None:
        keys = {p.party_id: p.keys for p in config.parties}
        try:
            _, signed_by = verify_terms(parse_envelope(raw), keys)
            result["signed_by"] = signed_by
            result["quorum"] = True
            lines.append(f"  signed by: {', '.join(signed_by)} (quorum met under {args.config})")
        except InputError as e:
            result["quorum"] = False
            result["reason"] = str(e)
            lines.append(f"  NOT in force under {args.config}: {e}")
            code = EXIT_FAILED
    else:
        lines.append(
            f"  signatures: {len(wire.signatures)} (give --config to name the parties and check the quorum)"
        )
    emit(args, {"command": "terms show", "exit_code": code, **result}, "\n".join(lines))
    return code


def _show_logged(args: argparse.Namespace, config: Any) -> int:
    if not config.database_path.is_file():
        raise CommandError(f"{config.database_path}: no verifier database here")
    storage = SqliteStorage(config.database_path, readonly=True)
    try:
        docs = storage.terms()
    finally:
        storage.close()
    logged = []
    lines = []
    for d in docs:
        _, terms = _decode(d.envelope, f"log index {d.log_index}")
        logged.append(
            {
                **_describe(terms),
                "log_index": d.log_index,
                "received": _iso(d.received_ns),
                "signed_by": d.lab_id.split(","),
            }
        )
        lines += _text(logged[-1])
        lines.append(
            f"  logged at index {d.log_index}, {_iso(d.received_ns)}, signed by {d.lab_id.replace(',', ', ')}"
        )
    if not lines:
        lines = ["no terms are logged"]
    emit(args, {"command": "terms show", "exit_code": EXIT_OK, "terms": logged}, "\n".join(lines))
    return EXIT_OK
