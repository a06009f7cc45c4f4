"""An organisation's storage quota (``settings.org_storage_quota_bytes``) and its usage.

The usage is the sum of ``bytes`` of every dataset version the organisation keeps: every
version stays readable, so each counts. A version's ``bytes`` is the size of the files a
reader of that version reads (an upload or a step output writes them all; an upsert's
version is the whole table after the merge, files it kept from the version before included),
so the usage is the most the organisation's tables can take on disk, never less.

Services read it and refuse an upload or upsert past it (413); a step gets what is left as
its output limit (``execution.base.StepStart.quota``) and is Failed past it. Writes of one
organisation at the same moment each see the usage before the others commit, so together
they may pass the quota by what they write at once.
"""

from __future__ import annotations

from dataclasses import dataclass

SETTING = "HEADRACE_ORG_STORAGE_QUOTA_BYTES"


@dataclass(frozen=True)
class StorageQuota:
    """The quota (``limit`` bytes, never 0) and the bytes the organisation ``used`` when read."""

    limit: int
    used: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def refusal(self, what: str) -> str:
        """One sentence: ``what`` (the new version, the step's outputs) does not fit."""
        return (
            f"{what} would take the organisation past its storage quota of {self.limit:,} "
            f"bytes ({SETTING}), of which its datasets already use {self.used:,}"
        )
