"""The metadata schema (SQLAlchemy Core tables). Changes go through an Alembic migration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_api_keys_org_created", "org_id", "created_at"),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("current_version_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "name"),
)

pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pipeline_id", Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("pipeline_id", "number"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "version_id", Uuid, ForeignKey("pipeline_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("version_id", "position"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline_id", Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", Uuid, ForeignKey("pipeline_versions.id"), nullable=False),
    Column("name", String(253), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("start_job_name", String(255), nullable=True),
    Column("end_job_name", String(255), nullable=True),
    Column("retry_of", Uuid, nullable=True),
    Column("argo_manifest", JSON, nullable=False),
    Column("argo_metadata", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("cancel_requested", Integer, nullable=False, default=0),
    Column("worker_id", String(64), nullable=True),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    Index("ix_runs_pipeline_created", "pipeline_id", "created_at", "id"),
    Index("ix_runs_status_created", "status", "created_at"),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("run_name", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("rows_written", BigInteger, nullable=True),
    Column("bytes_written", BigInteger, nullable=True),
    Column("input_versions", JSON, nullable=False, default=dict),
    Column("output_versions", JSON, nullable=False, default=dict),
    Column("error", Text, nullable=True),
    UniqueConstraint("run_id", "name"),
)

step_logs = Table(
    "step_logs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_name", String(255), nullable=False),
    Column("logged_at", UtcDateTime, nullable=False),
    Column("line", Text, nullable=False),
    Index("ix_step_logs_run_step", "run_id", "step_name", "id"),
)

# The event outbox: one row per run or step status change, appended by the transaction that
# makes the change (``services/lifecycle.py``). Ids grow in commit order (see
# ``repositories/events.py``), so a consumer that remembers the last id it handled misses
# nothing and sees nothing twice.
run_events = Table(
    "run_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Uuid, nullable=False),
    Column("pipeline_id", Uuid, nullable=False),
    Column("step_name", String(255), nullable=True),
    Column("old_status", String(16), nullable=True),
    Column("new_status", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_run_events_run_id", "run_id", "id"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("current_version", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("dataset_id", Uuid, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("operation", String(32), nullable=False),
    Column("written_by_key_id", Uuid, nullable=True),
    Column("run_id", Uuid, nullable=True),
    Column("step_name", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("dataset_id", "version"),
)
