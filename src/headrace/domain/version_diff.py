"""Compare two versions of a pipeline step by step, and flag the changes that break readers.

A change is breaking when an output column of a step is gone (removed or renamed: the two
cannot be told apart from the columns alone) or has another type, against the other
version's ``output_schemas``; a removed step's outputs are gone altogether. The reasons name
every known reader of such a column: the steps of any pipeline's current version that read
it (by column lineage, or by reading the dataset when their columns are not known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headrace.domain.pipeline import Step

Columns = Mapping[str, Sequence[Mapping[str, str]]]  # dataset -> [{name, type}]
# (dataset, column) -> ["pipeline/step"]; column "*": steps whose columns read are not known
Readers = Mapping[tuple[str, str], Sequence[str]]


def _fields(new: Step, old: Step) -> list[str]:
    a, b = new.config.to_dict(), old.config.to_dict()
    return sorted(k for k in {*a, *b} if a.get(k) != b.get(k))


def _reasons(new: Columns, old: Columns, readers: Readers) -> list[str]:
    reasons = []
    for dataset, columns in old.items():
        kept = {c["name"]: c["type"] for c in new.get(dataset, [])}
        for column in columns:
            name, type_ = column["name"], column["type"]
            if name not in kept:
                what = f"column {name!r} of {dataset!r} is removed or renamed"
            elif kept[name] != type_:
                what = f"column {name!r} of {dataset!r} changes type from {type_} to {kept[name]}"
            else:
                continue
            who = [*readers.get((dataset, name), ()), *readers.get((dataset, "*"), ())]
            read = f"; read by {', '.join(who)}" if who else "; no known reader"
            reasons.append(what + read)
    return reasons


def diff_versions(
    new_steps: Sequence[Step],
    old_steps: Sequence[Step],
    new_schemas: Mapping[str, Columns],
    old_schemas: Mapping[str, Columns],
    readers: Readers,
) -> list[dict[str, Any]]:
    """``[{name, change: added|removed|changed|same, fields, breaking, reasons}]``, the new
    version's steps in order, then the removed ones."""
    old = {s.name: s for s in old_steps}
    new_names = {s.name for s in new_steps}
    out: list[dict[str, Any]] = []
    for step in new_steps:
        before = old.get(step.name)
        if before is None:
            out.append(
                {
                    "name": step.name,
                    "change": "added",
                    "fields": [],
                    "breaking": False,
                    "reasons": [],
                }
            )
            continue
        fields = _fields(step, before)
        reasons = _reasons(new_schemas.get(step.name, {}), old_schemas.get(step.name, {}), readers)
        out.append(
            {
                "name": step.name,
                "change": "changed" if fields else "same",
                "fields": fields,
                "breaking": bool(reasons),
                "reasons": reasons,
            }
        )
    for step in old_steps:
        if step.name in new_names:
            continue
        reasons = _reasons({}, old_schemas.get(step.name, {}), readers)
        out.append(
            {
                "name": step.name,
                "change": "removed",
                "fields": [],
                "breaking": bool(reasons),
                "reasons": reasons,
            }
        )
    return out
