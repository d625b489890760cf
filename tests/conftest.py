"""Shared fixtures: every test gets its own Lorien home, so nothing touches the user's data."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.file_seconds import recorded
from tests.machine_share import MARKER, lock_folder, machine_share


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Setup, call and teardown of each test (its module's fixtures included) hold the machine as
    the test needs it: shared, or alone for tests marked ``exclusive`` (see tests/machine_share.py)."""
    with machine_share(lock_folder(item.config), exclusive=item.get_closest_marker(MARKER) is not None):
        yield


#: Seconds a file not in ``tests/file_seconds.json`` is taken to need per test marked ``slow`` or
#: ``exclusive``, and per other test.
UNRECORDED_SLOW_TEST_S, UNRECORDED_TEST_S = 30.0, 0.5


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pytest-xdist schedules and reports tests by node id, so two tests that share one would run
    as one (Schemathesis' ``parametrize`` gives every operation's test its function's id, hence one
    test function per operation in tests/serving/test_fuzz.py): refused here, not run silently.

    Then the files are ordered heaviest first (:func:`order_heaviest_files_first`): under
    ``--dist loadfile`` a worker takes the next file when it is done with one, so the run ends
    when its last files do, and those should be short ones."""
    counts = Counter(item.nodeid for item in items)
    duplicates = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if duplicates:
        raise pytest.UsageError(f"tests share a node id (xdist would run one of them): {duplicates[:5]}")
    items[:] = order_heaviest_files_first(items, recorded())


def order_heaviest_files_first(items: list[pytest.Item], seconds: dict[str, float]) -> list[pytest.Item]:
    """``items`` grouped by file, the longest first (stable): a file takes the ``seconds`` a
    recorded run says (:mod:`tests.file_seconds`), a file the record lacks
    :data:`UNRECORDED_SLOW_TEST_S` per test marked ``slow`` or ``exclusive`` and
    :data:`UNRECORDED_TEST_S` per other one. (xdist's own order, by number of tests, would leave
    files of one or two slow tests for last; ``--no-loadscope-reorder`` in ``addopts`` keeps
    this one.)"""
    estimated: Counter[str] = Counter()
    for item in items:
        heavy = item.get_closest_marker("slow") or item.get_closest_marker(MARKER)
        estimated[item.nodeid.split("::")[0]] += UNRECORDED_SLOW_TEST_S if heavy else UNRECORDED_TEST_S

    def duration(item: pytest.Item) -> float:
        path = item.nodeid.split("::")[0]
        return seconds.get(path, estimated[path])

    return sorted(items, key=lambda item: -duration(item))


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Lorien home for what runs before any test's own: module- and session-scoped fixtures (a
    fixture that registers the shipped cost model must not register it in the user's store)."""
    home = tmp_path_factory.mktemp("lorien-session-home")
    names = ("LORIEN_HOME", "BENTOML_HOME", "BENTOML_DO_NOT_TRACK")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({"LORIEN_HOME": str(home), "BENTOML_HOME": str(home / "bentoml"),
                       "BENTOML_DO_NOT_TRACK": "True"})
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("lorien-home")
    monkeypatch.setenv("LORIEN_HOME", str(home))
    monkeypatch.delenv("LORIEN_STORE", raising=False)
    monkeypatch.delenv("LORIEN_LOGS", raising=False)
    monkeypatch.setenv("BENTOML_HOME", str(home / "bentoml"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return home


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1, started once for the session (DynamoDB and S3 over HTTP)."""
    from tests.aws import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials for the local server in boto3's default chain (environment), nothing else."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto_endpoint
