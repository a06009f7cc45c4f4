"""Pipelines, versions and steps as the API shows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from headrace.domain.checks import CHECK_TYPES, SEVERITIES, Check
from headrace.domain.concurrency import ON_LIMIT
from headrace.domain.parameters import PARAMETER_TYPES, Parameter
from headrace.domain.pipeline import JOB_TYPES, QUERY_TYPES, DataTransform, Step
from headrace.domain.records import PipelineRecord, VersionRecord
from headrace.schemas.common import ErrorItem, Strict


def _absent(value: object) -> bool:
    """A field left out of what was sent is left out of what is shown, so a stored config
    reads back as it was written."""
    return value is None or value == []


class CheckIn(Strict):
    """A check on the step's output, run after it is written and before it is committed: a
    failing ``error`` check fails the step and commits nothing; ``warn`` is recorded only."""

    # Any string: an unknown type or severity is one of the version's problems, reported
    # with the others (domain/checks.py).
    type: str = Field(json_schema_extra={"enum": list(CHECK_TYPES)})
    name: str | None = Field(None, exclude_if=_absent)
    dataset: str | None = Field(None, exclude_if=_absent)
    column: str | None = Field(None, exclude_if=_absent)
    columns: list[str] = Field(default_factory=list, exclude_if=_absent)
    values: list[Any] = Field(default_factory=list, exclude_if=_absent)
    min: int | None = Field(None, exclude_if=_absent)
    max: int | None = Field(None, exclude_if=_absent)
    expression: str | None = Field(None, exclude_if=_absent)
    query: str | None = Field(None, exclude_if=_absent)
    severity: str = Field("error", json_schema_extra={"enum": list(SEVERITIES)})

    def to_domain(self) -> Check:
        return Check(
            type=self.type,
            name=self.name,
            dataset=self.dataset,
            column=self.column,
            columns=tuple(self.columns),
            values=tuple(self.values),
            min=self.min,
            max=self.max,
            expression=self.expression,
            query=self.query,
            severity=self.severity,
        )


class DataTransformConfig(Strict):
    """A SQL step. Inside ``query`` each input dataset is a table of the same name."""

    # Any string here: an unknown type is one of the version's problems (domain/validation.py),
    # reported with the others. The schema still lists the known ones.
    job_type: str = Field(json_schema_extra={"enum": list(JOB_TYPES)})
    query_type: str = Field(json_schema_extra={"enum": list(QUERY_TYPES)})
    query: str
    input_datasets: list[str] = Field(default_factory=list)
    output_datasets: list[str]
    checks: list[CheckIn] = Field(default_factory=list, exclude_if=_absent)
    # False: never reuse an earlier run's result of this step (always run it). Shown only
    # when false, so a stored config reads back as it was written.
    cache: bool = Field(True, exclude_if=lambda value: value is True)


StepConfigIn = DataTransformConfig


class StepIn(Strict):
    name: str
    config: StepConfigIn

    def to_domain(self) -> Step:
        c = self.config
        return Step(
            name=self.name,
            config=DataTransform(
                query=c.query,
                input_datasets=tuple(c.input_datasets),
                output_datasets=tuple(c.output_datasets),
                query_type=c.query_type,
                job_type=c.job_type,
                checks=tuple(check.to_domain() for check in c.checks),
                cache=c.cache,
            ),
        )


class ParameterIn(Strict):
    """A run parameter the version's SQL uses as ``$name``. Any type string here: an unknown
    one is a problem listed with the version's others (domain/parameters.py)."""

    name: str
    type: str = Field(json_schema_extra={"enum": list(PARAMETER_TYPES)})
    default: Any = None

    def to_domain(self) -> Parameter:
        return Parameter(
            self.name, self.type, self.default, has_default="default" in self.model_fields_set
        )


def domain_parameters(declared: list[ParameterIn]) -> list[Parameter]:
    return [p.to_domain() for p in declared]


class PipelineCreate(Strict):
    name: str
    description: str = ""
    steps: list[StepIn]
    parameters: list[ParameterIn] = Field(default_factory=list)


class PipelineUpdate(Strict):
    name: str | None = None
    description: str | None = None
    # Concurrency: at most this many runs at once (null: no limit); past it a new run is
    # queued (Pending, with waiting_reason) or skipped (Cancelled), as on_limit says.
    max_active_runs: int | None = None
    on_limit: str | None = Field(None, json_schema_extra={"enum": list(ON_LIMIT)})

    def limits(self) -> dict[str, Any]:
        """The concurrency fields sent (``max_active_runs: null`` lifts the limit)."""
        sent = self.model_fields_set & {"max_active_runs", "on_limit"}
        return {k: getattr(self, k) for k in sent if k == "max_active_runs" or getattr(self, k)}


class VersionCreate(Strict):
    steps: list[StepIn]
    parameters: list[ParameterIn] = Field(default_factory=list)


class StepRead(BaseModel):
    id: uuid.UUID
    name: str
    config: DataTransformConfig
    created_at: dt.datetime


class ColumnRead(BaseModel):
    name: str
    type: str


class PipelineVersionRead(BaseModel):
    id: uuid.UUID
    pipeline_id: uuid.UUID
    number: int
    steps: list[StepRead]
    created_at: dt.datetime
    parameters: list[dict[str, Any]] = []
    # {step: {dataset: [{name, type}]}}: the DuckDB-typed columns each step writes, inferred
    # by binding its SQL when the version was saved
    output_schemas: dict[str, dict[str, list[ColumnRead]]] = {}
    # Only in the answer that saved the version: what binding could not check (an input
    # that does not exist yet), located like a problem.
    warnings: list[ErrorItem] = Field(default_factory=list, exclude_if=_absent)

    @classmethod
    def of(cls, version: VersionRecord) -> PipelineVersionRead:
        return cls(
            id=version.id,
            pipeline_id=version.pipeline_id,
            number=version.number,
            steps=[
                StepRead(
                    id=s.id,
                    name=s.name,
                    config=DataTransformConfig.model_validate(s.config),
                    created_at=s.created_at,
                )
                for s in version.steps
            ],
            created_at=version.created_at,
            parameters=version.parameters,
            output_schemas=version.output_schemas,
            warnings=[ErrorItem(loc=list(w.loc), msg=w.msg, type=w.type) for w in version.warnings],
        )


class PipelineRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    current_version: PipelineVersionRead | None
    created_at: dt.datetime
    updated_at: dt.datetime
    max_active_runs: int | None = None
    on_limit: str = "queue"

    @classmethod
    def of(cls, pipeline: PipelineRecord, version: VersionRecord | None) -> PipelineRead:
        return cls(
            id=pipeline.id,
            name=pipeline.name,
            description=pipeline.description,
            current_version=PipelineVersionRead.of(version) if version else None,
            created_at=pipeline.created_at,
            updated_at=pipeline.updated_at,
            max_active_runs=pipeline.max_active_runs,
            on_limit=pipeline.on_limit,
        )


class DatasetColumn(BaseModel):
    dataset: str
    column: str


class LineageEdge(BaseModel):
    """Output column ``to`` of ``step`` is computed from input column ``from``."""

    model_config = ConfigDict(populate_by_name=True)

    from_: DatasetColumn = Field(alias="from")
    to: DatasetColumn
    step: str


class StepDiff(BaseModel):
    name: str
    change: str  # added | removed | changed | same
    fields: list[str]  # the config fields that differ
    breaking: bool
    reasons: list[str]  # each column removed, renamed or retyped, with its known readers


class VersionDiff(BaseModel):
    steps: list[StepDiff]
