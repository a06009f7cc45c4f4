"""Datasets and their versions as the API shows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from headrace.domain.records import DatasetRecord, DatasetVersionRecord
from headrace.schemas.common import Strict


class Column(BaseModel):
    name: str
    type: str


class DatasetVersionRead(BaseModel):
    version: int
    row_count: int
    bytes: int
    schema_: list[Column] = Field(alias="schema", serialization_alias="schema")
    operation: str = Field(description="upload, upsert or step")
    created_at: dt.datetime
    written_by_key_id: uuid.UUID | None
    run_id: uuid.UUID | None
    step_name: str | None

    @classmethod
    def of(cls, v: DatasetVersionRecord) -> DatasetVersionRead:
        return cls.model_validate(
            {
                "version": v.version,
                "row_count": v.row_count,
                "bytes": v.bytes,
                "schema": v.schema,
                "operation": v.operation,
                "created_at": v.created_at,
                "written_by_key_id": v.written_by_key_id,
                "run_id": v.run_id,
                "step_name": v.step_name,
            }
        )


class DatasetRead(BaseModel):
    id: uuid.UUID
    name: str
    current_version: int | None
    row_count: int | None = Field(description="Rows of the current version.")
    schema_: list[Column] = Field(alias="schema", serialization_alias="schema")
    created_at: dt.datetime
    updated_at: dt.datetime
    table_uri: str = Field(
        description="The dataset's Delta table (s3://… or file:///…): Polars, DuckDB, Spark "
        "or deltalake read it directly where the warehouse is reachable; its versions are "
        "the dataset's."
    )

    @classmethod
    def of(cls, d: DatasetRecord, table_uri: str) -> DatasetRead:
        return cls.model_validate(
            {
                "id": d.id,
                "name": d.name,
                "current_version": d.current_version,
                "row_count": d.current.row_count if d.current else None,
                "schema": d.current.schema if d.current else [],
                "created_at": d.created_at,
                "updated_at": d.updated_at,
                "table_uri": table_uri,
            }
        )


class DatasetDetailRead(DatasetRead):
    versions: list[DatasetVersionRead] = Field(description="Every version, newest first.")


class UpsertBody(Strict):
    dataset_name: str
    row_unique_identifier: str = Field(description="The key column rows are merged by.")
    data: list[dict[str, Any]]
    data_schema: dict[str, str] | None = Field(
        None,
        description="Column → DuckDB type name (BIGINT, DOUBLE, VARCHAR, DECIMAL(18,2), DATE, "
        "TIMESTAMP, …) for columns the dataset does not have yet.",
    )
