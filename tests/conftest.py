"""Shared fixtures: every test gets its own Lorien home, so nothing touches the user's data."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("lorien-home")
    monkeypatch.setenv("LORIEN_HOME", str(home))
    monkeypatch.delenv("LORIEN_STORE", raising=False)
    monkeypatch.delenv("LORIEN_LOGS", raising=False)
    monkeypatch.setenv("BENTOML_HOME", str(home / "bentoml"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    return home
