"""schedules, dataset triggers, run parameters and concurrency limits

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_versions") as batch:
        batch.add_column(sa.Column("parameters", sa.JSON(), nullable=True))
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(sa.Column("max_active_runs", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("on_limit", sa.String(length=8), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("parameters", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("waiting_reason", sa.Text(), nullable=True))
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Integer(), nullable=False),
        sa.Column("start_job_name", sa.String(length=255), nullable=True),
        sa.Column("end_job_name", sa.String(length=255), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("catchup", sa.String(length=8), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_schedules_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_due", "schedules", ["enabled", "next_fire_at"], unique=False)
    op.create_index("ix_schedules_pipeline", "schedules", ["pipeline_id"], unique=False)
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_ticks_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "scheduled_for", name=op.f("pk_schedule_ticks")),
    )
    op.create_table(
        "dataset_triggers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("debounce_seconds", sa.Float(), nullable=False),
        sa.Column("consumed", sa.JSON(), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_dataset_triggers_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_triggers")),
    )
    op.create_index("ix_dataset_triggers_org", "dataset_triggers", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dataset_triggers_org", table_name="dataset_triggers")
    op.drop_table("dataset_triggers")
    op.drop_table("schedule_ticks")
    op.drop_index("ix_schedules_pipeline", table_name="schedules")
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.drop_table("schedules")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("waiting_reason")
        batch.drop_column("parameters")
        batch.drop_column("trigger")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("on_limit")
        batch.drop_column("max_active_runs")
    with op.batch_alter_table("pipeline_versions") as batch:
        batch.drop_column("parameters")
