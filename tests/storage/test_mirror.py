"""The S3 mirror's bound on a plain folder: least recently used files go first, and a file in
use (pinned here, in another thread, or in another process) or in a write's folder stays."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from headrace.storage.mirror import BoundedMirror, Pins, pinning, scope

KB = 1024


def _file(path: Path, size: int, age: float) -> str:
    """A mirror file last used ``age`` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    used = time.time() - age
    os.utime(path, (used, used))
    return str(path)


def test_the_least_recently_used_files_go_first_until_there_is_room(tmp_path: Path) -> None:
    old = _file(tmp_path / "t" / "w-1" / "part-0.parquet", 4 * KB, age=30)
    middle = _file(tmp_path / "t" / "w-2" / "part-0.parquet", 4 * KB, age=20)
    new = _file(tmp_path / "u" / "w-3" / "part-0.parquet", 4 * KB, age=10)
    bound = BoundedMirror(str(tmp_path), 10 * KB)
    bound.make_room()
    assert [os.path.exists(p) for p in (old, middle, new)] == [False, True, True]
    assert bound.size() <= 10 * KB
    bound.make_room(incoming=4 * KB)  # room for a download of 4 KB
    assert [os.path.exists(p) for p in (middle, new)] == [False, True]


def test_a_file_used_again_moves_to_the_back(tmp_path: Path) -> None:
    first = _file(tmp_path / "a.parquet", 4 * KB, age=30)
    second = _file(tmp_path / "b.parquet", 4 * KB, age=20)
    pins = Pins()
    assert pins.hold(first)  # read again now
    pins.release()
    BoundedMirror(str(tmp_path), 4 * KB).make_room()
    assert os.path.exists(first) and not os.path.exists(second)


def test_pinned_files_and_write_folders_stay_until_released(tmp_path: Path) -> None:
    read = _file(tmp_path / "t" / "w-1" / "part-0.parquet", 4 * KB, age=30)
    staged = _file(tmp_path / "t" / "w-2" / "part-0.parquet", 4 * KB, age=20)
    bound = BoundedMirror(str(tmp_path), 0)
    held = threading.Event()
    done = threading.Event()

    def step() -> None:  # a step in another thread of the worker, as steps run
        with pinning() as pins:
            assert pins.hold(read)
            pins.hold_folder(os.path.dirname(staged))
            held.set()
            done.wait(10)

    thread = threading.Thread(target=step)
    thread.start()
    assert held.wait(10)
    bound.make_room()
    assert os.path.exists(read) and os.path.exists(staged)
    done.set()
    thread.join()
    bound.make_room()
    assert not os.path.exists(read) and not os.path.exists(staged)


def test_a_file_pinned_by_another_process_stays(tmp_path: Path) -> None:
    path = _file(tmp_path / "a.parquet", 4 * KB, age=30)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom headrace.storage.mirror import Pins\n"
            "p = Pins()\nassert p.hold(sys.argv[1])\nprint('held', flush=True)\nsys.stdin.read()\n",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        BoundedMirror(str(tmp_path), 0).make_room()
        assert os.path.exists(path)
    finally:
        holder.communicate("", timeout=30)
    BoundedMirror(str(tmp_path), 0).make_room()
    assert not os.path.exists(path)


def test_an_evicted_file_cannot_be_pinned(tmp_path: Path) -> None:
    path = _file(tmp_path / "a.parquet", 4 * KB, age=30)
    BoundedMirror(str(tmp_path), 0).make_room()
    with scope() as pins:
        assert not pins.hold(path)


def test_without_a_limit_nothing_is_evicted(tmp_path: Path) -> None:
    path = _file(tmp_path / "a.parquet", 4 * KB, age=30)
    BoundedMirror(str(tmp_path), None).make_room(incoming=10**12)
    assert os.path.exists(path)
