"""The house rules that imports alone cannot show (the import layers are `lint-imports`, the
banned I/O modules ruff's TID251; both run in `make lint`).

The core (``pausewatch/``) touches the disk only in ``pausewatch/files/``: a call of the
builtin ``open`` or of a ``pathlib``/``os`` file operation anywhere else in the core fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "pausewatch"
ALLOWED = (CORE / "files", CORE / "v1")

FILE_METHODS = frozenset({
    "open", "read_bytes", "read_text", "write_bytes", "write_text", "mkdir", "rmdir", "unlink",
    "touch", "iterdir", "glob", "rglob", "chmod", "symlink_to",  # not replace/rename/stat: str and dataclasses have them
})
OS_FILE_FUNCTIONS = frozenset({
    "open", "fdopen", "replace", "rename", "remove", "unlink", "fsync", "makedirs", "mkdir",
    "listdir", "scandir", "chmod", "stat", "lstat", "walk",
})


def _io_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "open":
            found.append((node.lineno, "open()"))
        elif isinstance(f, ast.Attribute):
            if isinstance(f.value, ast.Name) and f.value.id == "os" and f.attr in OS_FILE_FUNCTIONS:
                found.append((node.lineno, f"os.{f.attr}()"))
            elif f.attr in FILE_METHODS and not (isinstance(f.value, ast.Name) and f.value.id in {"re", "struct"}):
                found.append((node.lineno, f".{f.attr}()"))
    return found


def core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if not any(p.is_relative_to(a) for a in ALLOWED))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_does_no_disk_io_outside_pausewatch_files(path: Path) -> None:
    calls = _io_calls(ast.parse(path.read_text(encoding="utf-8")))
    assert not calls, f"{path.relative_to(ROOT)}: file I/O outside pausewatch/files/: {calls}"


def test_the_rule_sees_what_it_forbids() -> None:
    code = "import os\nfrom pathlib import Path\nopen('x')\nPath('y').read_bytes()\nos.replace('a', 'b')\n"
    assert [what for _, what in _io_calls(ast.parse(code))] == ["open()", ".read_bytes()", "os.replace()"]
