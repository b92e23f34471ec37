"""The one TOML reader (pausewatch.tomlread): each key's line, typed getters, errors of one
shape (``file:line: key: problem``) in each parser's own exception type, and every parser in
the repository reading through it."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest

from pausewatch.errors import FormatError, InputError
from pausewatch.roots import ROOTS_FORMAT, parse_roots
from pausewatch.tomlread import Document, KeyLines, located, parse_path, value_or_text

ROOT = Path(__file__).resolve().parent.parent

TEXT = """\
top = 1
[server]
listen = "127.0.0.1:1"   # a comment
limits.max = 5
notes = '''
x = 1
'''
[[labs]]
lab_id = "a"
keys = [
  "k1",
  "k2",
]
[[labs]]
lab_id = "b"
[labs.extra]
depth = 2
"""


class _ReadError(InputError):
    pass


def _doc(text: str = TEXT) -> Document:
    return Document.parse(text, "f.toml", error=located(_ReadError))


def test_every_key_has_its_own_line() -> None:
    lines = KeyLines.scan(TEXT)
    assert lines.line_of(("top",)) == 1
    assert lines.line_of(("server", "listen")) == 3
    assert lines.line_of(("server", "limits", "max")) == 4
    assert lines.line_of(("server", "x")) == 2  # inside a multi-line string: not a key, the table's line
    assert lines.line_of(("labs", 0, "keys")) == 10
    assert lines.line_of(("labs", 1, "lab_id")) == 15
    assert lines.line_of(("labs", 1, "extra", "depth")) == 17
    assert lines.line_of(("labs", 1, "missing")) == 14  # the nearest known ancestor
    assert parse_path("labs[1].extra.depth") == ("labs", 1, "extra", "depth")


def test_errors_have_one_shape_and_the_parser_s_type() -> None:
    root = _doc().root
    with pytest.raises(_ReadError, match=r"^f\.toml:1: top: must be a string, got an integer$"):
        root.string("top")
    server = root.table("server")
    with pytest.raises(_ReadError, match=r"^f\.toml:4: server\.limits\.max: 5 is out of range \[6, ∞\]$"):
        server.table("limits").integer("max", minimum=6)
    labs = root.tables("labs", required=True)
    with pytest.raises(_ReadError, match=r"^f\.toml:14: labs\[1\]\.keys: missing \(required\)$"):
        labs[1].strings("keys", None) or labs[1].string("keys")
    assert labs[0].strings("keys") == ["k1", "k2"]
    assert root.integer("absent", 7) == 7
    assert root.number("top") == 1.0
    with pytest.raises(_ReadError, match=r"labs\[0\]\.lab_id: 'a' is not one of b, c"):
        labs[0].string("lab_id", choices=("b", "c"))
    with pytest.raises(_ReadError, match=r"^f\.toml:1: \(syntax\): not valid TOML"):
        _doc("a = = 1\n")


def test_unknown_keys_are_named_by_line_with_a_guess() -> None:
    server = _doc().root.table("server")
    server.string("listen")
    with pytest.raises(_ReadError) as e:
        server.done()
    assert str(e.value).startswith("f.toml:4: server.limits: unknown key (this table takes: listen)")
    lab = _doc('[[labs]]\nlab_id = "a"\nfacilites = []\n').root.tables("labs")[0]
    with pytest.raises(_ReadError, match=r"f\.toml:3: labs\[0\]\.facilites: unknown key; did you mean 'facilities'\?"):
        lab.only("lab_id", "facilities")


def test_a_value_set_from_elsewhere_names_its_origin() -> None:
    doc = _doc()
    doc.override(("server", "listen"), 5, "environment X_LISTEN")
    with pytest.raises(_ReadError, match=r"^environment X_LISTEN: server\.listen: must be a string, got an integer$"):
        doc.root.table("server").string("listen")
    assert value_or_text("8") == 8
    assert value_or_text('"a b"') == "a b"
    assert value_or_text("eth0") == "eth0"


def test_lab_roots_have_one_reader_for_the_roots_file_and_the_verifier(tmp_path: Path) -> None:
    from verifier.config import ConfigError, load_config

    key = base64.b64encode(b"\x11" * 32).decode()
    labs = f'[[labs]]\nlab_id = "lab-1"\npublic_keys = ["{key}"]\nfacilities = ["fac a"]\n'
    roots = f'format = "{ROOTS_FORMAT}"\nversion = 1\nverdict_key = "{key}"\nchallenge_key = "{key}"\n' + labs
    with pytest.raises(FormatError) as from_roots:
        parse_roots(roots.encode(), source="r.toml")
    config = tmp_path / "v.toml"
    config.write_text(
        'state_dir = "s"\n[log]\norigin = "o.test/l"\nkey_file = "l.key"\n[challenge]\nkey_file = "c.key"\n'
        '[verdict]\nkey_file = "v.key"\n' + labs
    )
    with pytest.raises(ConfigError) as from_config:
        load_config(config, environ={})
    problem = "labs[0].facilities: id must be printable ASCII without spaces: 'fac a'"
    assert str(from_roots.value) == f"r.toml:8: {problem}"
    assert str(from_config.value) == f"{config}:12: {problem}"


def test_only_the_reader_parses_toml() -> None:
    """Every config, document and scenario parser reads through pausewatch.tomlread."""
    users = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if path.parts[len(ROOT.parts)] in {".venv", "tests", "build"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] in {"tomllib", "tomli"} for n in names):
                users.append(str(path.relative_to(ROOT)))
    assert users == ["pausewatch/tomlread.py"]


def test_nesting_too_deep_is_a_format_error_not_a_recursion_error() -> None:
    # a red team's file: tomllib recurses once per level and raised RecursionError, a
    # traceback in every CLI that reads a TOML file (2026-12-05)
    deep = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(FormatError, match=r"deep\.toml.*nested too deeply"):
        Document.parse(deep, "deep.toml")
    assert value_or_text("[" * 100_000) == "[" * 100_000
