"""Pipeline files: the API's ``{name, description, steps, parameters}`` in YAML (or JSON),
plus optional ``sources`` naming local files to load as datasets, relative to the pipeline
file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from headrace.domain.parameters import Parameter
from headrace.domain.pipeline import Step
from headrace.domain.problems import Loc, Problem
from headrace.schemas.common import Strict
from headrace.schemas.pipelines import ParameterIn, StepIn, domain_parameters


class PipelineFileError(Exception):
    """A pipeline file that cannot be read or does not have the expected shape; ``problems``
    locates each shape problem by step name, as the server's validation does."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def _by_step_name(raw: Any, loc: Loc) -> Loc:
    """``("steps", 2, …)`` as ``("steps", "<name of step 2>", …)`` when that step has one."""
    steps = raw.get("steps") if isinstance(raw, dict) else None
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and isinstance(steps, list):
        step = steps[loc[1]] if loc[1] < len(steps) else None
        name = step.get("name") if isinstance(step, dict) else None
        if isinstance(name, str) and name:
            return ("steps", name, *loc[2:])
    return loc


class _PipelineDocument(Strict):
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    steps: list[StepIn]
    parameters: list[ParameterIn] = Field(default_factory=list)


@dataclass(frozen=True)
class PipelineFile:
    path: Path
    name: str
    description: str
    steps: list[Step]
    step_bodies: list[dict[str, Any]]
    sources: dict[str, Path]
    parameters: list[Parameter] = field(default_factory=list)

    @property
    def parameter_bodies(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.parameters]


def load(path: Path) -> PipelineFile:
    """Read and shape-check a pipeline file (the steps' SQL is checked by the service)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise PipelineFileError(f"cannot read {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise PipelineFileError(f"{path} is not valid YAML: {err}") from err
    try:
        doc = _PipelineDocument.model_validate(raw)
    except ValidationError as err:
        problems = [
            Problem(_by_step_name(raw, tuple(e["loc"])), e["msg"], e["type"]) for e in err.errors()
        ]
        listed = "; ".join(f"{'.'.join(str(x) for x in p.loc)}: {p.msg}" for p in problems)
        raise PipelineFileError(f"{path}: {listed}", problems) from err
    return PipelineFile(
        path=path,
        name=doc.name,
        description=doc.description,
        steps=[s.to_domain() for s in doc.steps],
        step_bodies=[s.model_dump() for s in doc.steps],
        sources={name: (path.parent / rel).resolve() for name, rel in doc.sources.items()},
        parameters=domain_parameters(doc.parameters),
    )
