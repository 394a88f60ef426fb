"""recording: progress columns on recording, retention/quota per org unit

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("duration_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("over_quota", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("restarts", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "recording_policy",
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_unit.id"],
            name=op.f("fk_recording_policy_org_unit_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_unit_id", name=op.f("pk_recording_policy")),
    )


def downgrade() -> None:
    op.drop_table("recording_policy")
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.drop_column("restarts")
        batch_op.drop_column("over_quota")
        batch_op.drop_column("error")
        batch_op.drop_column("duration_ms")
