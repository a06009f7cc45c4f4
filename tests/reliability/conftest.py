"""The default installation of the fault tests: SQLite, what ``headrace serve`` runs on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.processes import Installation


@pytest.fixture
def sqlite_installation(tmp_path: Path) -> Iterator[Installation]:
    """Every process started from it is stopped at the end of the test."""
    found = Installation(tmp_path, f"sqlite:///{tmp_path / 'headrace.db'}")
    yield found
    found.stop_everything()
