"""Field encryption at rest: the tenants' wrapped data keys (``data_keys``), the blind indexes
of the callers' and callees' numbers, and numbers wide enough for their sealed form.

Rows written before this revision stay in plain text and are read as they are (a sealed
value starts with ``sealed:``, see ``aybiza.store.sealing``); new rows are sealed.

Revision ID: 0310
Revises: 0240
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0310"
down_revision: str | None = "0240"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("master_key_id", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "version"),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("from_number_index", sa.String(64), nullable=True))
        batch.add_column(sa.Column("to_number_index", sa.String(64), nullable=True))
        batch.create_index("ix_calls_tenant_from_index", ["tenant_id", "from_number_index"])
        batch.create_index("ix_calls_tenant_to_index", ["tenant_id", "to_number_index"])
    for column in ("from_number", "to_number"):
        _widen(column, sa.String(64), sa.Text())


def downgrade() -> None:
    for column in ("from_number", "to_number"):
        _widen(column, sa.Text(), sa.String(64))
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_tenant_to_index")
        batch.drop_index("ix_calls_tenant_from_index")
        batch.drop_column("to_number_index")
        batch.drop_column("from_number_index")
    op.drop_table("data_keys")


def _widen(column: str, old: sa.types.TypeEngine[str], new: sa.types.TypeEngine[str]) -> None:
    """Change a number column's type. SQLite does not enforce a text column's length, and
    rebuilding ``calls`` there would break the tables that reference it, so only PostgreSQL's
    column changes (the model keeps SQLite's ``VARCHAR(64)``: ``SealedText.sqlite_length``)."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("calls", column, type_=new, existing_type=old, existing_nullable=False)
