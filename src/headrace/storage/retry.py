"""Retrying a Delta commit that lost the race to another writer: one policy for every writer
(uploads, upserts, step outputs).

Two writers of one table race: the loser's commit fails with ``CommitFailedError`` and is
retried on a fresh base. A fixed number of attempts is not enough under contention (with many
writers racing to one table, most would give up though each could land after the others), so
a writer keeps trying for ``PATIENCE_SECONDS``, waiting a random moment between
attempts (longer as they fail) so that the losers spread out: each round, one lands.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

PATIENCE_SECONDS = 60.0
WAIT_STEP_SECONDS = 0.01  # the longest wait grows by this per failed attempt...
MAX_WAIT_SECONDS = 0.2  # ...up to this

B = TypeVar("B")
T = TypeVar("T")


def until_committed(
    commit: Callable[[B], T],
    base: B,
    refresh: Callable[[B], B],
    *,
    patience: float = PATIENCE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, B]:
    """``commit(base)`` until it does not raise ``CommitFailedError``; after each lost race a
    random wait, then again on ``refresh(base)``. What the commit returned and the base it
    landed on; past ``patience`` seconds the last ``CommitFailedError`` is raised."""
    from deltalake.exceptions import CommitFailedError  # a commit imports deltalake anyway

    deadline = clock() + patience
    attempt = 0
    while True:
        try:
            return commit(base), base
        except CommitFailedError:
            attempt += 1
            if clock() > deadline:
                raise
            sleep(random.uniform(0, min(WAIT_STEP_SECONDS * attempt, MAX_WAIT_SECONDS)))
            base = refresh(base)
