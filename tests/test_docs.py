"""The docs name every id the code can emit and every file format has its page: a new
finding id, audit check or alarm without a row in docs/findings.md fails here."""

from __future__ import annotations

import re
from pathlib import Path

from attestor.alarms import SELF_CLEARING
from pausewatch.evaluation.findings import ALL_FINDING_IDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def documented_ids() -> set[str]:
    return set(re.findall(r"`([a-z_]+\.[a-z_]+)`", (DOCS / "findings.md").read_text()))


def test_every_finding_id_is_documented() -> None:
    missing = ALL_FINDING_IDS - documented_ids()
    assert not missing, f"docs/findings.md lacks {sorted(missing)}"


def test_every_alarm_is_documented() -> None:
    kinds = set(SELF_CLEARING) | {"log.fork", "log.split_view", "log.omission", "receipt.invalid"}
    text = (ROOT / "attestor" / "alarms.py").read_text()
    assert kinds <= set(re.findall(r"``([a-z]+\.[a-z_]+)``", text))
    assert not kinds - documented_ids()


def test_every_audit_check_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "auditor").glob("*.py"))
    checks = set(re.findall(r'fail\(\s*"([a-z_]+\.[a-z_]+)"', source))
    checks |= set(re.findall(r'failures\.append\(\s*\(\s*"([a-z_]+\.[a-z_]+)"', source))
    assert len(checks) > 20
    missing = checks - documented_ids()
    assert not missing, f"docs/findings.md lacks audit checks {sorted(missing)}"


def test_every_file_format_has_a_page() -> None:
    for page in (
        "inventory",
        "commitment",
        "attestor-config",
        "verifier-config",
        "roots",
        "policy",
        "bundle-format",
        "terms",
        "findings",
        "operator",
        "cli",
    ):
        assert (DOCS / f"{page}.md").is_file(), page
    readme = (ROOT / "README.md").read_text()
    for page in ("docs/operator.md", "docs/findings.md", "docs/cli.md", "docs/inventory.md"):
        assert page in readme, page
