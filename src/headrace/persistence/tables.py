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
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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
    # Concurrency: at most this many active runs (null: no limit); a run past it is queued
    # (stays Pending) or skipped (ends Cancelled), as ``on_limit`` says (null: queue).
    Column("max_active_runs", Integer, nullable=True),
    Column("on_limit", String(8), nullable=True),
    UniqueConstraint("org_id", "name"),
)

pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pipeline_id", Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("parameters", JSON, nullable=True),  # [{name, type, default?}]; null: none
    # {step: {dataset: [{name, type}]}}, the columns binding inferred when it was saved
    # (services/binding.py); null for versions saved before, or without binding.
    Column("output_schemas", JSON, nullable=True),
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
    # {key, parameters, refusal} (domain/fingerprint.py): kept by the first run that made
    # it, so later runs in other processes need not parse the SQL; null until then.
    Column("recipe", JSON, nullable=True),
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
    Column("trigger", JSON, nullable=True),  # what started the run; null: by hand
    Column("parameters", JSON, nullable=True),  # {name: value} as bound; null: none
    Column("waiting_reason", Text, nullable=True),  # why a Pending run is held back
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
    # The result of each check on the step's output (domain/checks.py CheckResult); null
    # until the step ran its checks.
    Column("checks", JSON, nullable=True),
    UniqueConstraint("run_id", "name"),
    # Set when the step was Skipped because an earlier run's result of it was reused: that
    # step, and the seconds it took (what reusing it saved).
    Column("reused_from_run_id", Uuid, nullable=True),
    Column("reused_from_step", String(255), nullable=True),
    Column("saved_seconds", Float, nullable=True),
)

# The reuse index: the fingerprint (``domain/fingerprint.py``) of each step that succeeded,
# looked up by organisation and fingerprint when a run is planned (``services/planning.py``).
step_fingerprints = Table(
    "step_fingerprints",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", Uuid, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("run_id", Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_name", String(255), nullable=False),
    Index("ix_step_fingerprints_org_fingerprint", "org_id", "fingerprint"),
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
    Column("run_id", Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    Column("org_id", Uuid, nullable=False),
    Column("pipeline_id", Uuid, nullable=True),
    Column("step_name", String(255), nullable=True),
    Column("old_status", String(16), nullable=True),
    Column("new_status", String(16), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    # set for a dataset's new version (then no status is), with the run and step that wrote
    # it, if one did
    Column("dataset_id", Uuid, nullable=True),
    Column("dataset_version", BigInteger, nullable=True),
    # The event's place in the order consumers read (``repositories/events.py``): null until
    # numbered, after its transaction committed.
    Column("seq", BigInteger, nullable=True),
    Index("ix_run_events_seq", "seq", unique=True),
    Index("ix_run_events_run_seq", "run_id", "seq"),
    # and ix_run_events_unnumbered, on id where seq is null (migration 0008): a partial
    # index named here would load both dialects' modules in every process that imports
    # the tables.
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

# A pipeline's cron schedules. ``next_fire_at`` is the next tick due (UTC), what the
# scheduler's poll selects on; null when the schedule is disabled.
schedules = Table(
    "schedules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("pipeline_id", Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("enabled", Integer, nullable=False),
    Column("start_job_name", String(255), nullable=True),
    Column("end_job_name", String(255), nullable=True),
    Column("parameters", JSON, nullable=False),
    Column("catchup", String(8), nullable=False),
    Column("next_fire_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_schedules_due", "enabled", "next_fire_at"),
    Index("ix_schedules_pipeline", "pipeline_id"),
)

# One row per tick of a schedule that started a run, inserted in the run's own transaction:
# its primary key is what makes a tick start exactly one run, whatever the number of workers.
schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column(
        "schedule_id",
        Uuid,
        ForeignKey("schedules.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("scheduled_for", UtcDateTime, primary_key=True),
    Column("run_id", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

# Dataset triggers: ``consumed`` is the version of each listed dataset the last triggered run
# was started for; ``pending_since`` when a newer one was first seen (the debounce window).
dataset_triggers = Table(
    "dataset_triggers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("pipeline_id", Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("datasets", JSON, nullable=False),
    Column("mode", String(8), nullable=False),
    Column("debounce_seconds", Float, nullable=False),
    Column("consumed", JSON, nullable=False),
    Column("pending_since", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_dataset_triggers_org", "org_id"),
)

# Idempotency-Key records (``services/idempotency.py``): one per organisation and key, made
# when a POST carrying the key begins (the primary key lets exactly one of two concurrent
# duplicates through) and completed with its answer, which replays for 24 hours. The answer
# is sealed with a key derived from the caller's API key: it may hold a secret shown once.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("api_key_id", Uuid, nullable=False),
    Column("request_hash", String(64), nullable=True),  # null while the request is in flight
    Column("status", Integer, nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# How far each consumer of the outbox has read (``services/outbox.py``): one row per consumer,
# the id of the last event it handled, advanced in the transaction that handled the events.
outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    # the signing secret, encrypted with the server's key (``services/secret_box.py``)
    Column("secret", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_webhooks_org_created", "org_id", "created_at", "id"),
)

# What the outbox's consumers have to send, one row per message and receiver: a webhook's
# (``webhook_id``) or the OpenLineage endpoint's. ``next_attempt_at`` is null once the
# message is delivered or given up.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sink", String(16), nullable=False),
    Column("webhook_id", Uuid, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    Column("event", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_deliveries_next_attempt_at", "next_attempt_at"),
    Index("ix_deliveries_webhook_created", "webhook_id", "created_at", "id"),
)
