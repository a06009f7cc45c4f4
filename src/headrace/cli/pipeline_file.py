"""Pipeline files: the API's ``{name, description, steps, parameters}`` in YAML (or JSON),
written the way a project keeps them (as dbt and SQLMesh projects do):

- ``sources`` names local files to load as datasets, relative to the pipeline file;
- a step's SQL is inline (``query``) or in a file of the project (``query_file``, relative to
  the pipeline file);
- ``input_datasets`` may be left out: it is then the tables the SQL reads
  (``domain/sql.py``), and the API is sent them, as it always is;
- ``job_type`` and ``query_type`` may be left out: each has one value.

This module is the one place a pipeline file is read. Its models extend the API's own step
config, so a key added there is a key of the file too, and of its JSON Schema
(``headrace schema pipeline-file``), which editors use to check and complete the file. Every
problem of the file is reported as ``file:line:column``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from headrace.cli.automation import Automation
from headrace.cli.file_positions import Position, Positions, load_with_positions
from headrace.domain.parameters import Parameter
from headrace.domain.pipeline import JOB_TYPES, QUERY_TYPES, Step
from headrace.domain.problems import Loc, Problem
from headrace.schemas.common import Strict
from headrace.schemas.pipelines import DataTransformConfig, ParameterIn, StepIn, domain_parameters
from headrace.schemas.schedules import ScheduleCreate, TriggerCreate


class PipelineFileError(Exception):
    """A pipeline file that cannot be read or does not have the expected shape; ``problems``
    locates each shape problem by step name, as the server's validation does, and
    ``positions`` says where each was written."""

    def __init__(
        self,
        message: str,
        problems: Sequence[Problem] = (),
        positions: Sequence[Position] = (),
    ) -> None:
        super().__init__(message)
        self.problems = list(problems)
        self.positions = list(positions)


class FileStepConfig(DataTransformConfig):
    """A SQL step as a file writes it: the API's step config, with the SQL inline or in a
    file, the inputs inferred when left out, and the one-valued types optional."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["query"]}, {"required": ["query_file"]}]}
    )

    job_type: str = Field(default=JOB_TYPES[0], json_schema_extra={"enum": list(JOB_TYPES)})
    query_type: str = Field(default=QUERY_TYPES[0], json_schema_extra={"enum": list(QUERY_TYPES)})
    query: str | None = Field(  # type: ignore[assignment]
        default=None,
        description="The step's SQL (DuckDB); each input dataset is a table of its name.",
    )
    query_file: str | None = Field(
        default=None, description="A file holding the step's SQL, relative to this file."
    )
    input_datasets: list[str] | None = Field(  # type: ignore[assignment]
        default=None, description="Datasets the SQL reads; left out, the tables it reads."
    )


class FileStep(Strict):
    name: str = Field(description="Unique in the pipeline: the name partial runs use.")
    config: FileStepConfig


class PipelineDocument(Strict):
    """A pipeline file."""

    model_config = ConfigDict(title="headrace pipeline file")

    name: str = Field(description="The pipeline's name in the organisation.")
    description: str = ""
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Dataset name → a local file (CSV, Parquet, JSON lines) loaded by "
        "`headrace run`, relative to this file.",
    )
    steps: list[FileStep] = Field(
        description="The steps; each runs after the steps that write its inputs."
    )
    parameters: list[ParameterIn] = Field(default_factory=list)
    schedules: list[ScheduleCreate] = Field(
        default_factory=list, description="Cron schedules; `pipelines push` makes them so."
    )
    triggers: list[TriggerCreate] = Field(
        default_factory=list, description="Dataset triggers; `pipelines push` makes them so."
    )
    max_active_runs: int | None = Field(None, description="At most this many runs at once.")
    on_limit: str = Field("queue", json_schema_extra={"enum": ["queue", "skip"]})


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline file (what ``headrace schema pipeline-file`` prints)."""
    schema = PipelineDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


@dataclass(frozen=True)
class PipelineFile:
    """A pipeline file, read and shape-checked. Its steps are resolved when first asked for:
    inferring the inputs of a step that leaves them out parses its SQL, which a repeat
    ``headrace run`` of an unchanged file need not do (``steps_reusing``)."""

    path: Path
    name: str
    description: str
    drafts: list[dict[str, Any]]  # as the API takes them, but ``input_datasets`` may be None
    sources: dict[str, Path]
    parameters: list[Parameter] = field(default_factory=list)
    located: Locator | None = None
    # What runs the pipeline by itself, as the API takes it: schedules, triggers, limits.
    automation: Automation = field(default_factory=lambda: Automation([], [], {}))

    @cached_property
    def steps(self) -> list[Step]:
        return self.steps_reusing(())

    @cached_property
    def step_bodies(self) -> list[dict[str, Any]]:
        """The steps as the API takes them: SQL inline, inputs listed."""
        return [StepIn.model_validate(body).model_dump() for body in self._resolved(())]

    def steps_reusing(self, known: Sequence[Step]) -> list[Step]:
        """The steps, a step that leaves its inputs out taking those of the ``known`` step of
        its name when its SQL and outputs are the same (the same SQL reads the same tables),
        and else the tables its SQL reads."""
        return [StepIn.model_validate(body).to_domain() for body in self._resolved(known)]

    def _resolved(self, known: Sequence[Step]) -> list[dict[str, Any]]:
        same = {
            (s.name, s.config.query, s.config.output_datasets): list(s.config.input_datasets)
            for s in known
        }
        resolved = []
        for draft in self.drafts:
            config = draft["config"]
            if config["input_datasets"] is None:
                query, outputs = config["query"], config["output_datasets"]
                found = same.get((draft["name"], query, tuple(outputs)))
                inputs = found if found is not None else _inferred_inputs(query, len(outputs))
                config = {**config, "input_datasets": inputs}
            resolved.append({**draft, "config": config})
        return resolved

    @property
    def parameter_bodies(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.parameters]

    def position(self, problem: Problem) -> Position:
        """Where a problem of this file's pipeline was written."""
        return self.located.position(problem) if self.located else Position(self.path, 1, 1)

    def where(self, problem: Problem) -> str:
        """``file:line:column: location: message`` of a problem of this file's pipeline."""
        return f"{self.position(problem)}: {plain(problem)}"


def plain(problem: Problem) -> str:
    """``location: message``, the location as dotted keys (steps by name)."""
    where = ".".join(str(x) for x in problem.loc)
    return f"{where}: {problem.msg}" if where else problem.msg


# What sqlglot's parse errors say of where they are, inside the SQL.
_SQL_AT = re.compile(r"at line (\d+), column (\d+)")


@dataclass(frozen=True)
class Locator:
    """Turns a problem's location (by step index or by step name) into where it was written:
    in the pipeline file, or in a step's ``query_file`` for a problem of its SQL."""

    raw: Any
    positions: Positions
    query_files: dict[str, Path]  # step name → its SQL file

    def position(self, problem: Problem) -> Position:
        """Where the problem was written; for a problem of a step's SQL that says where in
        the SQL, that place, in its ``query_file`` or inside the inline ``query``."""
        loc = _by_step_index(self.raw, problem.loc)
        named = _by_step_name(self.raw, loc)
        if len(named) >= 4 and named[2:4] == ("config", "query"):
            at = _SQL_AT.search(problem.msg)
            line, column = (int(at.group(1)), int(at.group(2))) if at else (1, 1)
            sql_file = self.query_files.get(str(named[1]))
            if sql_file is not None:
                return Position(sql_file, line, column)
            inside = self.positions.inside(loc[:4], line, column) if at else None
            if inside is not None:
                return inside
        return self.positions.of(loc)

    def describe(self, problem: Problem) -> str:
        named = Problem(_by_step_name(self.raw, problem.loc), problem.msg, problem.type)
        return f"{self.position(problem)}: {plain(named)}"


def _steps_of(raw: Any) -> list[Any]:
    steps = raw.get("steps") if isinstance(raw, dict) else None
    return steps if isinstance(steps, list) else []


def _by_step_name(raw: Any, loc: Loc) -> Loc:
    """``("steps", 2, …)`` as ``("steps", "<name of step 2>", …)`` when that step has one."""
    steps = _steps_of(raw)
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        step = steps[loc[1]] if loc[1] < len(steps) else None
        name = step.get("name") if isinstance(step, dict) else None
        if isinstance(name, str) and name:
            return ("steps", name, *loc[2:])
    return loc


def _by_step_index(raw: Any, loc: Loc) -> Loc:
    """``("steps", "<name>", …)`` as ``("steps", <index of the first step of that name>, …)``."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], str):
        for index, step in enumerate(_steps_of(raw)):
            if isinstance(step, dict) and step.get("name") == loc[1]:
                return ("steps", index, *loc[2:])
    return loc


def _inferred_inputs(query: str, outputs: int) -> list[str]:
    """The tables ``query`` reads (none when it does not parse: validation says why)."""
    if not query.strip():
        return []
    from headrace.domain.sql import analyse

    return sorted(analyse(query, outputs).reads)


def _sql_source_problems(raw: Any) -> list[Problem]:
    """Steps that give no SQL, or both kinds (read from the document as written, so that
    they are listed beside the problems of its shape)."""
    problems = []
    for index, step in enumerate(_steps_of(raw)):
        config = step.get("config") if isinstance(step, dict) else None
        if not isinstance(config, dict):
            continue
        at: Loc = ("steps", index, "config")
        if "query" in config and "query_file" in config:
            problems.append(
                Problem((*at, "query_file"), "give query or query_file, not both", "query.both")
            )
        elif "query" not in config and "query_file" not in config:
            problems.append(
                Problem((*at, "query"), "the step needs its SQL: query or query_file", "missing")
            )
    return problems


def _wire_step(index: int, step: FileStep, folder: Path, problems: list[Problem]) -> dict[str, Any]:
    """The step as the API takes it; a ``query_file`` that cannot be read goes to
    ``problems``."""
    config = step.config
    query = config.query
    if config.query_file is not None and query is None:
        try:
            query = (folder / config.query_file).read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            problems.append(
                Problem(
                    ("steps", index, "config", "query_file"),
                    f"cannot read {config.query_file}: {reason}",
                    "query_file.unreadable",
                )
            )
    body = config.model_dump(exclude={"query_file"})
    body["query"] = query or ""
    return {"name": step.name, "config": body}


def load(path: Path) -> PipelineFile:
    """Read and shape-check a pipeline file (the steps' SQL is checked by the service)."""
    import yaml

    try:
        raw, positions = load_with_positions(path, path.read_text())
    except OSError as err:
        raise PipelineFileError(f"cannot read {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        reason = getattr(err, "problem", None) or err
        raise PipelineFileError(f"{where}: not valid YAML: {reason}") from err
    query_files = _query_files(raw, path.parent)
    located = Locator(raw, positions, query_files)
    problems = _sql_source_problems(raw)
    try:
        doc = PipelineDocument.model_validate(raw)
    except ValidationError as err:
        shape = [Problem(tuple(e["loc"]), e["msg"], e["type"]) for e in err.errors()]
        raise _file_error(located, [*shape, *problems]) from err
    drafts = [_wire_step(i, s, path.parent, problems) for i, s in enumerate(doc.steps)]
    if problems:
        raise _file_error(located, problems)
    return PipelineFile(
        path=path,
        name=doc.name,
        description=doc.description,
        drafts=drafts,
        sources={name: (path.parent / rel).resolve() for name, rel in doc.sources.items()},
        parameters=domain_parameters(doc.parameters),
        located=located,
        automation=Automation(
            schedules=[s.model_dump() for s in doc.schedules],
            triggers=[t.model_dump() for t in doc.triggers],
            limits={"max_active_runs": doc.max_active_runs, "on_limit": doc.on_limit},
        ),
    )


def _query_files(raw: Any, folder: Path) -> dict[str, Path]:
    found = {}
    for step in _steps_of(raw):
        config = step.get("config") if isinstance(step, dict) else None
        name = step.get("name") if isinstance(step, dict) else None
        query_file = config.get("query_file") if isinstance(config, dict) else None
        if isinstance(name, str) and isinstance(query_file, str):
            found[name] = folder / query_file
    return found


def _file_error(located: Locator, problems: list[Problem]) -> PipelineFileError:
    named = [Problem(_by_step_name(located.raw, p.loc), p.msg, p.type) for p in problems]
    positions = [located.position(p) for p in problems]
    message = "; ".join(located.describe(p) for p in problems)
    return PipelineFileError(message, named, positions)
