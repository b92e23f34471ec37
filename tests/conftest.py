"""The scenario library's stories start in a worker process as soon as collection ends, and its
tests run last (``tests/sim/library_run.py`` says why)."""

from __future__ import annotations

import pytest

from tests.sim.library_run import LibraryRun

LIBRARY_TEST = "tests/sim/test_library.py::test_scenario_meets_its_expectations["
LIBRARY_RUN = pytest.StashKey[LibraryRun]()


def _is_library(item: pytest.Item) -> bool:
    return item.nodeid.startswith(LIBRARY_TEST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_is_library)  # stable: the library's tests last, each part in its order


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    names = [str(item.callspec.params["name"]) for item in session.items if isinstance(item, pytest.Function)
             and _is_library(item)]
    if names:
        run = LibraryRun(names)
        session.config.stash[LIBRARY_RUN] = run
        run.add_worker()


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(LIBRARY_RUN, None)
    if run is not None:
        run.close()


@pytest.fixture(scope="session")
def library_run(request: pytest.FixtureRequest) -> LibraryRun:
    """The run started at collection's end (``pytest_collection_finish``)."""
    run = request.config.stash.get(LIBRARY_RUN, None)
    if run is None:
        pytest.fail("the library's run was not started: its tests were not collected as expected")
    return run
