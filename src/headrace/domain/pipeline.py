"""Pipelines as the domain sees them: a version is an ordered list of named steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from headrace.domain.checks import Check, check_from_dict

JOB_TYPES = ("data-transform",)
QUERY_TYPES = ("sql",)
MAX_NAME_LENGTH = 255

# Dataset and step names: plain words, digits, `_` and `-`. No `.`, `/` or spaces, so a name
# can never be read as a path, a schema-qualified table or a file.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
# Names headrace gives its own tables and views inside a step; no step or dataset may take one.
RESERVED_PREFIX = "__headrace"


@dataclass(frozen=True)
class DataTransform:
    """A SQL step: reads ``input_datasets`` as tables, writes ``output_datasets``."""

    query: str
    input_datasets: tuple[str, ...]
    output_datasets: tuple[str, ...]
    # As sent: validation refuses a type not in QUERY_TYPES / JOB_TYPES alongside every other
    # problem of the version (a schema-level refusal would hide those).
    query_type: str = "sql"
    job_type: str = "data-transform"
    # Judged on the written outputs before they are committed (domain/checks.py).
    checks: tuple[Check, ...] = ()
    # False: the step always runs, even when an earlier run computed the same result
    # (``domain/fingerprint.py``), e.g. SQL that reads something other than its inputs.
    cache: bool = True

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "job_type": self.job_type,
            "query_type": self.query_type,
            "query": self.query,
            "input_datasets": list(self.input_datasets),
            "output_datasets": list(self.output_datasets),
        }
        if not self.cache:  # absent when true, like checks when there are none
            out["cache"] = False
        if self.checks:  # absent when there are none: configs stored before checks match
            out["checks"] = [c.to_dict() for c in self.checks]
        return out


StepConfig = DataTransform


@dataclass(frozen=True)
class Step:
    """One named step of a pipeline version (the "job" of partial runs)."""

    name: str
    config: StepConfig


@dataclass(frozen=True)
class PipelineDefinition:
    """What a client submits for a new pipeline version: its steps, in order."""

    steps: tuple[Step, ...] = field(default_factory=tuple)


def step_from_dict(name: str, config: dict[str, object]) -> Step:
    """Rebuild a stored step; stored configs were validated when the version was made."""
    inputs = config.get("input_datasets") or []
    outputs = config.get("output_datasets") or []
    checks = config.get("checks") or []
    assert isinstance(inputs, list) and isinstance(outputs, list) and isinstance(checks, list)
    return Step(
        name=name,
        config=DataTransform(
            query=str(config["query"]),
            input_datasets=tuple(str(i) for i in inputs),
            output_datasets=tuple(str(o) for o in outputs),
            checks=tuple(check_from_dict(c) for c in checks),
            cache=config.get("cache", True) is not False,
        ),
    )
