"""What a pipeline file says runs its pipeline by itself (schedules, dataset triggers,
concurrency limits), and the changes that make a pipeline so: the same plan for
``pipelines push`` (over the API) and ``headrace run`` (on the local store)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEDULE_FIELDS = (
    "cron",
    "timezone",
    "enabled",
    "start_job_name",
    "end_job_name",
    "parameters",
    "catchup",
)
TRIGGER_FIELDS = ("datasets", "mode", "debounce_seconds")


@dataclass(frozen=True)
class Automation:
    schedules: list[dict[str, Any]]  # ScheduleCreate bodies
    triggers: list[dict[str, Any]]  # TriggerCreate bodies
    limits: dict[str, Any]  # max_active_runs, on_limit


@dataclass(frozen=True)
class Plan:
    """Ids to delete and bodies to create, so the existing ones match the wanted ones."""

    delete: list[str]
    create: list[dict[str, Any]]


def _key(body: Mapping[str, Any], fields: Sequence[str]) -> str:
    return json.dumps({f: body.get(f) for f in fields}, sort_keys=True, default=str)


def plan(
    existing: Sequence[tuple[str, Mapping[str, Any]]],
    wanted: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
) -> Plan:
    """Keep the existing ones (id, fields) that are wanted as they are, delete the others,
    create the wanted ones that do not exist: a changed schedule is replaced."""
    remaining = [_key(w, fields) for w in wanted]
    delete = []
    for item_id, body in existing:
        key = _key(body, fields)
        if key in remaining:
            remaining.remove(key)
        else:
            delete.append(item_id)
    create = []
    for w in wanted:
        key = _key(w, fields)
        if key in remaining:
            remaining.remove(key)
            create.append({f: w.get(f) for f in fields})
    return Plan(delete, create)


def describe(what: str, made: Plan) -> list[str]:
    lines = [f"{what}: removed {len(made.delete)}"] if made.delete else []
    return lines + ([f"{what}: added {len(made.create)}"] if made.create else [])


def limits_changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return any(current.get(k) != v for k, v in wanted.items())
