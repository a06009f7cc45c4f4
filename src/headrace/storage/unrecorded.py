"""Delta commits the catalog has not recorded: a live write about to be recorded, or one whose
writer died between its commit and its record.

Every write commits to Delta first and records the version in the catalog right after, so a
table's newest version may be one the catalog does not list. Overwrites (uploads, step
outputs) do not care: they replace whatever is there. A MERGE (upsert) builds on the newest
version, so it must not build on an abandoned one, whose rows no client was told about.

The two are told apart by age. A commit newer than the grace period may be a writer about to
record it: it is left alone, and a merge builds on it, as concurrent writers always have. An
older one is abandoned: the table is restored to the recorded version by a new commit tagged
``headrace.rollback_to = <version>``, so that commit is recognised as holding exactly the
recorded version's data and is never rolled back itself. The restore is based on the newest
version and never retried, so it fails instead of landing over a commit made meanwhile.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from deltalake import CommitProperties, DeltaTable

from headrace.errors import Conflict
from headrace.storage import delta

log = logging.getLogger("headrace.storage")

ROLLBACK_TAG = "headrace.rollback_to"
# Each failed attempt means another writer committed meanwhile; its commit is young, so the
# next look nearly always settles.
SETTLE_ATTEMPTS = 5


@dataclass(frozen=True)
class Settled:
    """What a write that builds on the recorded data starts from."""

    base: DeltaTable | None  # None: no table, or nothing recorded to build on (write it anew)
    rolled_back: int | None = None  # the abandoned version this call rolled back, if any


def _abandoned(info: dict[str, object], grace_seconds: float) -> bool:
    """A commit older than the grace period; one without a timestamp is never taken for
    abandoned."""
    stamp = info.get("timestamp")
    if not isinstance(stamp, int):
        return False
    return time.time() - stamp / 1000 > grace_seconds


def settle(table: str, recorded: int | None, grace_seconds: float) -> Settled:
    """The snapshot of ``table`` to build on, given the catalog's current version
    ``recorded`` (None when the dataset has none): abandoned unrecorded commits are rolled
    back first. With nothing recorded and only an abandoned commit, the base is None: the
    write treats the table as new (an overwrite of what is there)."""
    for _ in range(SETTLE_ATTEMPTS):
        base = delta.open_table(table)
        if base is None:
            return Settled(None)
        newest = int(base.version())
        if recorded is not None and newest <= recorded:
            return Settled(base)
        info = delta.commit_info(table, newest)
        if recorded is not None and info.get(ROLLBACK_TAG) == str(recorded):
            return Settled(base)
        if not _abandoned(info, grace_seconds):
            return Settled(base)
        if recorded is None:
            return Settled(None)
        try:
            base.restore(
                recorded,
                commit_properties=CommitProperties(
                    custom_metadata={ROLLBACK_TAG: str(recorded)}, max_commit_retries=0
                ),
                post_commithook_properties=delta.keep_log(),
            )
        except delta.CommitFailedError:
            continue  # another writer committed meanwhile: look again
        log.warning(
            "rolled %s back from unrecorded version %d to recorded version %d (as version %d)",
            table,
            newest,
            recorded,
            int(base.version()),
        )
        return Settled(base, rolled_back=newest)
    raise Conflict("other writes to this dataset kept landing first; try again")
