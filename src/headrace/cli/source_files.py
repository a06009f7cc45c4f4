"""What ``headrace run`` remembers of each source file, so that a repeat run neither reloads
nor rereads one that did not change.

A source's content is known by its SHA-256, but hashing rereads the whole file on every run:
seconds for a source of some gigabytes, before any step starts. So each digest is kept with
the file's stat (size, modification and change times, inode), and a file whose stat is as it
was when it was hashed keeps its digest without being read; git trusts its index the same way.
Like git, it does not trust a file that changed shortly before it was hashed ("racily
clean"): a write in the same timestamp tick as the hash would leave the stat as it was, so
such a file is hashed again next time.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A file that changed less than this before it was hashed is hashed again: wider than the
# timestamp granularity of the filesystems a data folder lives on (2 s on FAT, 1 s on ext3).
RACY_NS = 2_000_000_000


def _stat(path: Path) -> list[int]:
    found = path.stat()
    return [found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SourceFiles:
    """The remembered state of each source (its digest, its stat when hashed, the dataset
    version it was loaded as), kept in one JSON file next to the metadata store."""

    def __init__(self, path: Path, now_ns: Callable[[], int] = time.time_ns) -> None:
        self._path = path
        self._now_ns = now_ns
        self._state: dict[str, dict[str, Any]] = (
            json.loads(path.read_text()) if path.exists() else {}
        )

    def digest(self, name: str, file: Path) -> str:
        """The content digest of source ``name``'s ``file``: the remembered one when the
        file's stat says it is unchanged, otherwise hashed now (and remembered)."""
        known = self._state.setdefault(name, {})
        stat = _stat(file)
        hashed_at = known.get("hashed_at_ns")
        trusted = (
            known.get("stat") == stat
            and isinstance(hashed_at, int)
            and stat[2] < hashed_at - RACY_NS
            and isinstance(known.get("digest"), str)
        )
        if trusted:
            return str(known["digest"])
        hashed_at = self._now_ns()  # before reading: a write while hashing is then racy
        digest = sha256(file)
        if known.get("digest") != digest:
            known.pop("version", None)  # loaded from other content
        known.update(digest=digest, stat=stat, hashed_at_ns=hashed_at)
        return digest

    def loaded_version(self, name: str) -> int | None:
        """The dataset version the source's current content was loaded as, if it was."""
        version = self._state.get(name, {}).get("version")
        return version if isinstance(version, int) else None

    def loaded(self, name: str, version: int | None) -> None:
        self._state.setdefault(name, {})["version"] = version

    def save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps(self._state, indent=2))
