"""Server-Sent Events: parse a ``text/event-stream`` and the events of a run's stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None


def parse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events of a stream, line by line, as the HTML standard parses them (comments and
    unknown fields ignored; an event without data is not dispatched)."""
    event, ident = "message", None
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data), ident)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value
    if data:
        yield ServerSentEvent(event, "\n".join(data), ident)


def apply(run: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The run object after one event: top-level fields replaced, ``run_steps`` merged by name
    (every event of a run's stream is such a patch of the run object)."""
    merged = {**run, **{k: v for k, v in patch.items() if k != "run_steps"}}
    steps = {s["name"]: s for s in run.get("run_steps", [])}
    for step in patch.get("run_steps", []):
        steps[step["name"]] = {**steps.get(step["name"], {}), **step}
    merged["run_steps"] = list(steps.values())
    return merged
