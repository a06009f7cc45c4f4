"""Dataset triggers: which new dataset versions start a run, and the loops they may not make.

A trigger lists datasets and a mode: ``any`` fires when one of them has a version newer than
the one its last run was started for, ``all`` when each of them has. The first such version
opens a debounce window; when it closes, one run starts with the versions then current, so a
burst of writes starts one run, not one per write.

A loop is a pipeline that writes, directly or through pipelines that its outputs trigger, a
dataset that triggers itself: every run would start another for ever. It is refused when the
trigger or the pipeline version that would close it is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from headrace.domain.pipeline import MAX_NAME_LENGTH, NAME_PATTERN
from headrace.domain.problems import Loc, Problem

MODES = ("any", "all")
MAX_DEBOUNCE_SECONDS = 86_400
MAX_DATASETS = 100


def check(datasets: Sequence[str], mode: str, debounce_seconds: float, loc: Loc) -> list[Problem]:
    """Every problem of a trigger's fields, at once."""
    problems = []
    if not datasets:
        problems.append(
            Problem((*loc, "datasets"), "a trigger needs at least one dataset", "trigger.empty")
        )
    if len(datasets) > MAX_DATASETS:
        problems.append(
            Problem(
                (*loc, "datasets"),
                f"a trigger lists at most {MAX_DATASETS} datasets",
                "trigger.too_many",
            )
        )
    for i, name in enumerate(datasets):
        if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
            problems.append(
                Problem((*loc, "datasets", i), f"{name!r} is not a dataset name", "trigger.name")
            )
    if len(set(datasets)) != len(datasets):
        problems.append(
            Problem((*loc, "datasets"), "a dataset is listed twice", "trigger.duplicate")
        )
    if mode not in MODES:
        problems.append(
            Problem((*loc, "mode"), f"mode {mode!r} is not one of any, all", "trigger.bad_mode")
        )
    if not 0 <= debounce_seconds <= MAX_DEBOUNCE_SECONDS:
        problems.append(
            Problem(
                (*loc, "debounce_seconds"),
                f"debounce_seconds must be from 0 to {MAX_DEBOUNCE_SECONDS}",
                "trigger.bad_debounce",
            )
        )
    return problems


def find_loop(
    writes: Mapping[str, set[str]], triggered_by: Mapping[str, set[str]]
) -> list[tuple[str, str]] | None:
    """A loop among pipelines, as ``[(pipeline, dataset it writes that triggers the next),
    …]`` back to the first; None when there is none. ``writes``: each pipeline's outputs;
    ``triggered_by``: the datasets whose new versions start each pipeline."""
    readers: dict[str, list[str]] = {}
    for pipeline, names in triggered_by.items():
        for name in names:
            readers.setdefault(name, []).append(pipeline)
    edges = {
        p: sorted({(q, d) for d in sorted(outputs) for q in readers.get(d, ())})
        for p, outputs in writes.items()
    }
    done: set[str] = set()
    for start in sorted(edges):
        path: list[tuple[str, str]] = []
        on_path: dict[str, int] = {}
        found = _walk(start, edges, path, on_path, done)
        if found is not None:
            return found
    return None


def _walk(
    node: str,
    edges: Mapping[str, list[tuple[str, str]]],
    path: list[tuple[str, str]],
    on_path: dict[str, int],
    done: set[str],
) -> list[tuple[str, str]] | None:
    if node in done:
        return None
    on_path[node] = len(path)
    for target, dataset in edges.get(node, ()):
        path.append((node, dataset))
        if target in on_path:
            return path[on_path[target] :]
        found = _walk(target, edges, path, on_path, done)
        if found is not None:
            return found
        path.pop()
    del on_path[node]
    done.add(node)
    return None


def describe_loop(loop: list[tuple[str, str]]) -> str:
    """``pipeline a writes x, which triggers b; b writes y, which triggers a``."""
    parts = []
    for i, (pipeline, dataset) in enumerate(loop):
        following = loop[(i + 1) % len(loop)][0]
        parts.append(f"pipeline {pipeline!r} writes {dataset!r}, which triggers {following!r}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Firing:
    """What one pass does with a trigger: start a run now (with these dataset versions),
    open or keep its debounce window (``pending_since``), or nothing."""

    start: dict[str, int] | None
    pending_since: dt.datetime | None


def evaluate(
    datasets: Sequence[str],
    mode: str,
    debounce: dt.timedelta,
    consumed: Mapping[str, int | None],
    current: Mapping[str, int | None],
    pending_since: dt.datetime | None,
    now: dt.datetime,
) -> Firing:
    """Whether a trigger fires at ``now``: the listed datasets with a version newer than the
    one consumed are its news; enough news (one for ``any``, each for ``all``) opens the
    window, and its run starts once the window has lasted ``debounce``."""
    news = [d for d in datasets if current.get(d) is not None and current[d] != consumed.get(d)]
    enough = bool(news) if mode == "any" else len(news) == len(datasets)
    if not enough:
        return Firing(None, None)
    opened = pending_since or now
    if now - opened < debounce:
        return Firing(None, opened)
    return Firing({d: int(current[d] or 0) for d in news}, None)
