"""``pausewatch.entrypoint``: a Ctrl-C that lands where Python cannot raise it is delivered again.

CI caught one: SIGINT during the auditor's imports landed in the import system's module-lock
weakref callback, and Python printed "Exception ignored in: <function _get_module_lock.<locals>.cb>
... Traceback ... KeyboardInterrupt" (tests/audit/test_faults.py, ``test_ctrl_c_during_start_up``).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from pausewatch import entrypoint


def _args(exc: BaseException) -> SimpleNamespace:
    return SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=None, err_msg=None, object=None)


def test_an_unraisable_ctrl_c_is_delivered_again_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupted: list[None] = []
    monkeypatch.setattr("_thread.interrupt_main", lambda: interrupted.append(None))
    entrypoint._interrupt_again(_args(KeyboardInterrupt()))
    assert interrupted == [None]
    assert capsys.readouterr().err == ""


def test_other_unraisable_exceptions_go_to_the_default_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    monkeypatch.setattr(sys, "__unraisablehook__", seen.append)
    monkeypatch.setattr("_thread.interrupt_main", lambda: pytest.fail("not an interrupt"))
    args = _args(ValueError("boom"))
    entrypoint._interrupt_again(args)
    assert seen == [args]


def test_guarded_main_installs_the_hook_and_reports_an_interrupt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
    monkeypatch.setattr("signal.signal", lambda *_a: None)  # keep pytest's SIGINT handler

    def load() -> object:
        assert sys.unraisablehook is entrypoint._interrupt_again
        raise KeyboardInterrupt

    assert entrypoint.guarded_main("prog", load) == entrypoint.EXIT_INTERRUPTED  # type: ignore[arg-type]
    assert capsys.readouterr().err == "prog: interrupted\n"
