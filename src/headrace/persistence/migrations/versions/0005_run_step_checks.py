"""run step checks and version output schemas: the results of a step's checks on its
output, and the columns each step of a version writes as inferred when it was saved

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_steps") as batch:
        batch.add_column(sa.Column("checks", sa.JSON(), nullable=True))
    with op.batch_alter_table("pipeline_versions") as batch:
        batch.add_column(sa.Column("output_schemas", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_versions") as batch:
        batch.drop_column("output_schemas")
    with op.batch_alter_table("run_steps") as batch:
        batch.drop_column("checks")
