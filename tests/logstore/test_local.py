"""The local-folder log backend: the conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.testing.logstore_conformance import LogStoreConformance


class TestLocalLogStoreConformance(LogStoreConformance):
    @pytest.fixture
    def logs_uri(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/logs"
