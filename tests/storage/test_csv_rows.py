"""The csv module's field limit, a setting of the whole process, is raised by the reader that
needs it, never by importing headrace; a field past the default limit is still read."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from headrace.storage import csv_rows

DEFAULT_LIMIT = 128 * 1024  # the csv module's own


@pytest.fixture
def default_limit() -> Iterator[None]:
    """The process's csv field limit at the module's default for the test, then as it was."""
    before = csv.field_size_limit(DEFAULT_LIMIT)
    yield
    csv.field_size_limit(before)


def test_importing_headrace_leaves_the_csv_field_limit_alone() -> None:
    code = (
        "import csv; import headrace.storage.ingest, headrace.api.app; "
        "print(csv.field_size_limit())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(DEFAULT_LIMIT)]


def test_a_field_past_the_default_limit_is_read(default_limit: None, tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    long = "x" * (DEFAULT_LIMIT + 10)
    source.write_text(f"a,b\n{long},1\n")
    assert csv_rows.rewrite(str(source), str(target), ",", 16 * 1024 * 1024) == 1
    assert target.read_bytes() == f"a,b\r\n{long},1\r\n".encode()
