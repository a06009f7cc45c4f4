"""outbox: each event's place in the order consumers read it (seq), numbered once committed

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    # The rows so far were written in commit order (SQLite's one writer, PostgreSQL's lock).
    op.execute("UPDATE run_events SET seq = id")
    op.drop_index("ix_run_events_run_id", table_name="run_events")
    op.create_index("ix_run_events_seq", "run_events", ["seq"], unique=True)
    op.create_index("ix_run_events_run_seq", "run_events", ["run_id", "seq"], unique=False)
    op.create_index(
        "ix_run_events_unnumbered",
        "run_events",
        ["id"],
        unique=False,
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_run_events_unnumbered", table_name="run_events")
    op.drop_index("ix_run_events_run_seq", table_name="run_events")
    op.drop_index("ix_run_events_seq", table_name="run_events")
    op.create_index("ix_run_events_run_id", "run_events", ["run_id", "id"], unique=False)
    with op.batch_alter_table("run_events") as batch:
        batch.drop_column("seq")
