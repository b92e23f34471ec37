import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.errors import FormatError, KeyFileError, SignatureError
from pausewatch.files.keyfile import generate_key_file, load_key_file
from pausewatch.keys import Ed25519Key, Ed25519Signer, key_id


def test_key_file_is_created_0600_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    signer = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_key_file(path)
    assert loaded.public_key == signer.public_key
    sig = loaded.sign(b"report")
    signer.public_key.verify(sig, b"report")


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = generate_key_file(path)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(path)
    assert load_key_file(path).public_key == first.public_key


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    generate_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a pausewatch key file"),
        ("pausewatch ed25519 seed v1\n", "not a pausewatch key file"),
        ("pausewatch ed25519 seed v1\n!!!!\n", "not valid base64"),
        ("pausewatch ed25519 seed v1\nAAAA\n", "32-byte"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n", "not a pausewatch key file"),
    ],
)
def test_malformed_key_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match=message):
        load_key_file(path)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        load_key_file(tmp_path / "absent.key")


def test_key_id_is_derived_from_the_public_key() -> None:
    signer = Ed25519Signer.from_seed(bytes(32))
    assert signer.public_key.key_id == key_id(signer.public_key.raw)
    assert len(signer.public_key.key_id) == 64


def test_verify_rejects_wrong_message_and_wrong_length() -> None:
    signer = Ed25519Signer.from_seed(bytes(range(32)))
    sig = signer.sign(b"a")
    with pytest.raises(SignatureError):
        signer.public_key.verify(sig, b"b")
    with pytest.raises(SignatureError, match="64 bytes"):
        signer.public_key.verify(sig[:63], b"a")


@given(st.binary(max_size=64))
def test_public_key_parser_never_crashes(raw: bytes) -> None:
    try:
        key = Ed25519Key(raw)
    except FormatError:
        return
    assert key.raw == raw


def test_public_key_text_accepts_base64_and_vkeys_only() -> None:
    from pausewatch.note import Ed25519NoteSigner, ed25519_key_from_text

    signer = Ed25519Signer.from_seed(bytes(range(32)))
    import base64

    assert ed25519_key_from_text(base64.b64encode(signer.public_key.raw).decode(), "k") == signer.public_key
    vkey = Ed25519NoteSigner("example.com/log", signer).vkey
    assert ed25519_key_from_text(vkey, "k") == signer.public_key
    with pytest.raises(KeyFileError, match="lab key"):
        ed25519_key_from_text("not a key", "lab key")
