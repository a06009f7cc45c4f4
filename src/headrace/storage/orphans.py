"""Files that nothing refers to any more, found and removed on a local warehouse.

A write cut short (a killed process, a refused commit) leaves its files behind: a ``w-<uuid>``
folder whose Parquet files no version lists, a MERGE's files in the table folder, a whole table
folder of a new dataset never recorded, a staged upload. This is *not* Delta's ``vacuum``,
which deletes what the newest version no longer uses: headrace keeps every version readable,
so a file any entry of the log names (added or removed, in a commit or a checkpoint) stays.

Every removal also needs the file to be older than a cut-off the caller chooses: a write in
flight is not in the log yet, and its files must be left alone until it has surely ended.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import pyarrow.compute as pc
import pyarrow.parquet as pq

from headrace.storage.delta import LOG_FOLDER

WRITE_FOLDER_PREFIX = "w-"
_COMMIT = re.compile(r"\d{20}\.json")
_FILE_ACTIONS = ("add", "remove", "cdc")


@dataclass(frozen=True)
class Removed:
    """One file or folder removed, with the bytes it held."""

    path: str
    bytes: int


def _relative(table: str, path: str) -> str:
    """A log entry's file path (relative and URL-encoded, or an absolute URI) as a path
    relative to the table folder."""
    if "://" in path:
        path = urlsplit(path).path
    path = unquote(path)
    return os.path.normpath(os.path.relpath(path, table) if os.path.isabs(path) else path)


def _checkpoint_paths(path: str) -> list[str]:
    """The file paths named by the actions of one checkpoint (or sidecar) Parquet file."""
    columns = [c for c in _FILE_ACTIONS if c in pq.read_schema(path).names]
    found: list[str] = []
    for column in pq.read_table(path, columns=columns).columns:
        found += [p for p in pc.struct_field(column, "path").to_pylist() if p is not None]
    return found


def referenced(table: str) -> set[str]:
    """Every data file (relative to the table folder) that some entry of the Delta log names."""
    named: list[str] = []
    for folder, _, names in os.walk(os.path.join(table, LOG_FOLDER)):
        for name in names:
            path = os.path.join(folder, name)
            if _COMMIT.fullmatch(name):
                with open(path, encoding="utf-8") as f:
                    actions = [json.loads(line) for line in f if line.strip()]
                named += [a[k]["path"] for a in actions for k in _FILE_ACTIONS if k in a]
            elif name.endswith(".parquet"):
                named += _checkpoint_paths(path)
    return {_relative(table, p) for p in named}


def _stats(folder: str, names: list[str]) -> list[tuple[str, os.stat_result]]:
    """The entries of ``folder`` with their status; one removed meanwhile is left out."""
    found = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            found.append((path, os.stat(path)))
        except FileNotFoundError:
            continue
    return found


def remove_unreferenced(table: str, before: float) -> list[Removed]:
    """Remove the table's Parquet files that no version names and that were last changed
    before ``before`` (a ``time.time()``), then its write folders this leaves empty.

    Files and folders are listed before the log is read, so a write committed in between is
    seen as referenced."""
    files: list[tuple[str, os.stat_result]] = []
    for folder, subfolders, names in os.walk(table):
        if folder == table and LOG_FOLDER in subfolders:
            subfolders.remove(LOG_FOLDER)
        files += _stats(folder, names)
    write_folders = [
        (entry.path, entry.stat().st_mtime)
        for entry in os.scandir(table)
        if entry.is_dir() and entry.name.startswith(WRITE_FOLDER_PREFIX)
    ]
    keep = referenced(table)
    removed: list[Removed] = []
    for path, status in files:
        name = os.path.relpath(path, table)
        if path.endswith(".parquet") and name not in keep and status.st_mtime < before:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue  # another sweep got there first
            removed.append(Removed(path, status.st_size))
    for path, mtime in write_folders:
        if mtime < before:
            try:
                os.rmdir(path)  # only when empty
            except OSError:
                continue
            removed.append(Removed(path, 0))
    return removed


def remove_abandoned_folder(folder: str, before: float) -> Removed | None:
    """Remove ``folder`` whole if nothing in it (itself included) changed since ``before``."""
    parent, name = os.path.split(folder)
    entries = _stats(parent, [name])
    for inner, subfolders, names in os.walk(folder):
        entries += _stats(inner, [*subfolders, *names])
    if not entries or max(s.st_mtime for _, s in entries) >= before:
        return None
    shutil.rmtree(folder, ignore_errors=True)
    return Removed(folder, sum(s.st_size for _, s in entries if stat.S_ISREG(s.st_mode)))


def remove_old_files(folder: str, before: float) -> list[Removed]:
    """Remove the files directly in ``folder`` last changed before ``before``."""
    removed: list[Removed] = []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            status = entry.stat(follow_symlinks=False)
            if status.st_mtime < before:
                try:
                    os.remove(entry.path)
                except FileNotFoundError:
                    continue
                removed.append(Removed(entry.path, status.st_size))
    return removed
