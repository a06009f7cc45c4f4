"""outbox consumers' cursors, webhooks and their deliveries; dataset versions in the outbox

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_events") as batch:
        batch.alter_column("run_id", existing_type=sa.Uuid(), nullable=True)
        batch.alter_column("pipeline_id", existing_type=sa.Uuid(), nullable=True)
        batch.alter_column("new_status", existing_type=sa.String(length=16), nullable=True)
        batch.add_column(sa.Column("dataset_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("dataset_version", sa.BigInteger(), nullable=True))
    op.create_table(
        "outbox_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_outbox_cursors")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_webhooks_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index("ix_webhooks_org_created", "webhooks", ["org_id", "created_at", "id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_index(
        "ix_deliveries_webhook_created", "deliveries", ["webhook_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_webhook_created", table_name="deliveries")
    op.drop_index("ix_deliveries_next_attempt_at", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_webhooks_org_created", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_table("outbox_cursors")
    op.execute("DELETE FROM run_events WHERE dataset_id IS NOT NULL")
    with op.batch_alter_table("run_events") as batch:
        batch.drop_column("dataset_version")
        batch.drop_column("dataset_id")
        batch.alter_column("new_status", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("pipeline_id", existing_type=sa.Uuid(), nullable=False)
        batch.alter_column("run_id", existing_type=sa.Uuid(), nullable=False)
