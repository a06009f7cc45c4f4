"""``cli/source_files.py``: an unchanged source keeps its digest without being read; a
changed one, or one that changed just before it was hashed, is read again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from headrace.cli import source_files
from headrace.cli.source_files import RACY_NS, SourceFiles


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each file the module hashes, in order."""
    seen: list[Path] = []
    hash_file = source_files.sha256

    def counted(path: Path) -> str:
        seen.append(path)
        return hash_file(path)

    monkeypatch.setattr(source_files, "sha256", counted)
    return seen


def _later(file: Path) -> int:
    """A clock reading well after the file's last change."""
    return file.stat().st_ctime_ns + 10 * RACY_NS


def _loaded(folder: Path) -> tuple[Path, SourceFiles, str]:
    """A source file hashed well after it was written and loaded as version 0: its file, the
    state and its digest."""
    file = folder / "orders.csv"
    file.write_text("id\n1\n")
    state = SourceFiles(folder / "state.json", now_ns=lambda: _later(file))
    digest = state.digest("orders", file)
    state.loaded("orders", 0)
    return file, state, digest


def test_an_unchanged_file_keeps_its_digest_unread_across_runs(
    tmp_path: Path, reads: list[Path]
) -> None:
    file, state, first = _loaded(tmp_path)
    state.save()

    again = SourceFiles(tmp_path / "state.json", now_ns=lambda: _later(file))
    assert again.digest("orders", file) == first == hashlib.sha256(file.read_bytes()).hexdigest()
    assert again.loaded_version("orders") == 0
    assert reads == [file]  # the second run never read it


def test_a_changed_file_is_read_again_and_forgets_its_version(
    tmp_path: Path, reads: list[Path]
) -> None:
    file, state, first = _loaded(tmp_path)
    file.write_text("id\n2\n")  # same size, new content
    assert state.digest("orders", file) != first
    assert state.loaded_version("orders") is None
    assert reads == [file, file]


def test_a_file_that_changed_just_before_it_was_hashed_is_read_again(
    tmp_path: Path, reads: list[Path]
) -> None:
    file = tmp_path / "orders.csv"
    file.write_text("id\n1\n")
    changed = file.stat().st_ctime_ns
    state = SourceFiles(tmp_path / "state.json", now_ns=lambda: changed)
    state.digest("orders", file)
    # A write in the same timestamp tick as that hash would have left the stat as it is.
    state.digest("orders", file)
    assert reads == [file, file]
