"""The reuse index: the fingerprint of each step that succeeded, found again by organisation
and fingerprint (``ix_step_fingerprints_org_fingerprint``), never across organisations."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, and_, bindparam, insert, select

from headrace.persistence.tables import run_steps, step_fingerprints

# Fingerprints looked up per statement: far under every driver's limit on bound values.
_CHUNK = 1000


@dataclass(frozen=True)
class EarlierResult:
    """A succeeded step of an earlier run: what it wrote and how long it took."""

    fingerprint: str
    run_id: uuid.UUID
    step_name: str
    output_versions: dict[str, int]
    seconds: float | None


def add(
    conn: Connection, org_id: uuid.UUID, fingerprint: str, run_id: uuid.UUID, step_name: str
) -> None:
    conn.execute(
        insert(step_fingerprints),
        {"org_id": org_id, "fingerprint": fingerprint, "run_id": run_id, "step_name": step_name},
    )


_FOUND = (
    select(
        step_fingerprints.c.fingerprint,
        step_fingerprints.c.run_id,
        step_fingerprints.c.step_name,
        run_steps.c.output_versions,
        run_steps.c.started_at,
        run_steps.c.finished_at,
    )
    .join(
        run_steps,
        and_(
            run_steps.c.run_id == step_fingerprints.c.run_id,
            run_steps.c.name == step_fingerprints.c.step_name,
        ),
    )
    .where(
        step_fingerprints.c.org_id == bindparam("org_id"),
        step_fingerprints.c.fingerprint.in_(bindparam("fingerprints", expanding=True)),
        run_steps.c.status == "Succeeded",
    )
    .order_by(step_fingerprints.c.id.desc())
)


def succeeded(
    conn: Connection, org_id: uuid.UUID, fingerprints: Collection[str]
) -> dict[str, list[EarlierResult]]:
    """The organisation's succeeded steps with each of ``fingerprints``, newest first."""
    found: dict[str, list[EarlierResult]] = {}
    wanted = sorted(set(fingerprints))
    for at in range(0, len(wanted), _CHUNK):
        rows = conn.execute(_FOUND, {"org_id": org_id, "fingerprints": wanted[at : at + _CHUNK]})
        for r in rows:
            took = (
                (r.finished_at - r.started_at).total_seconds()
                if r.started_at is not None and r.finished_at is not None
                else None
            )
            found.setdefault(r.fingerprint, []).append(
                EarlierResult(
                    fingerprint=r.fingerprint,
                    run_id=r.run_id,
                    step_name=r.step_name,
                    output_versions={k: int(v) for k, v in (r.output_versions or {}).items()},
                    seconds=took,
                )
            )
    return found
