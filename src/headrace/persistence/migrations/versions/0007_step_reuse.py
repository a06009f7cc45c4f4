"""step reuse: the fingerprints of succeeded steps, and what a reused step was reused from

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_steps") as batch:
        batch.add_column(sa.Column("reused_from_run_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("reused_from_step", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("saved_seconds", sa.Float(), nullable=True))
    op.create_table(
        "step_fingerprints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("step_name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_step_fingerprints_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_fingerprints")),
    )
    op.create_index(
        "ix_step_fingerprints_org_fingerprint",
        "step_fingerprints",
        ["org_id", "fingerprint"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_step_fingerprints_org_fingerprint", table_name="step_fingerprints")
    op.drop_table("step_fingerprints")
    with op.batch_alter_table("run_steps") as batch:
        batch.drop_column("saved_seconds")
        batch.drop_column("reused_from_step")
        batch.drop_column("reused_from_run_id")
