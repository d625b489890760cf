"""Store and log locations: flag, then environment, then the user's data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.config import (
    data_dir,
    open_logs,
    open_store,
    resolve_logs_uri,
    resolve_store_uri,
)
from lorien.errors import InvalidInput


def test_precedence_flag_env_default() -> None:
    env = {"LORIEN_HOME": "/data/l", "LORIEN_STORE": "sqlite:///env.db"}
    assert resolve_store_uri("sqlite:///flag.db", env) == "sqlite:///flag.db"
    assert resolve_store_uri(None, env) == "sqlite:///env.db"
    assert resolve_store_uri(None, {"LORIEN_HOME": "/data/l"}) == "sqlite:////data/l/lorien.db"
    assert resolve_logs_uri(None, {"LORIEN_HOME": "/data/l"}) == "file:///data/l/logs"
    assert resolve_logs_uri(None, {"LORIEN_LOGS": "file:///x"}) == "file:///x"


def test_data_dir_follows_xdg() -> None:
    assert data_dir({"XDG_DATA_HOME": "/xdg"}) == Path("/xdg/lorien")
    assert data_dir({}).name == "lorien"


def test_default_store_is_created_under_lorien_home(isolated_home: Path) -> None:
    with open_store(resolve_store_uri()) as store:
        assert store.count() == 0
    assert (isolated_home / "lorien.db").exists()


@pytest.mark.parametrize("uri", ["postgres://x", "sqlite://host/x.db", "sqlite:///", "nonsense",
                                 "sqlite:///x.db?keep=many"])
def test_bad_store_uris(uri: str) -> None:
    with pytest.raises(InvalidInput):
        open_store(uri)


@pytest.mark.parametrize("uri", ["ftp://x/y", "file://", "/plain/path"])
def test_bad_log_uris(uri: str) -> None:
    with pytest.raises(InvalidInput):
        open_logs(uri)
