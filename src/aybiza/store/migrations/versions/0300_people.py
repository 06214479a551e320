"""People and roles, sessions, second factors, sign-in throttles, key address ranges, the
tenant's MFA requirement, and the hash-chained audit log (append-only: triggers refuse UPDATE
and DELETE on ``audit_events``).

Revision ID: 0300
Revises: 0220
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0300"
down_revision: str | None = "0220"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = "audit_events is append-only"


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _fk(name: str, target: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(32), sa.ForeignKey(target), nullable=False)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("mfa_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        _text("name", 200),
        _text("password_hash", 200, nullable=True),
        sa.Column("totp_secret_sealed", sa.Text(), nullable=True),
        _at("totp_confirmed_at", nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("mfa_enabled", sa.Boolean(), nullable=False),
        sa.Column("oidc_subject", sa.String(600), nullable=True, unique=True),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_table(
        "memberships",
        _id(),
        _fk("tenant_id", "tenants.id"),
        _fk("user_id", "users.id"),
        _text("role", 20),
        _at("created_at"),
        sa.UniqueConstraint("tenant_id", "user_id"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_index(
        "ix_memberships_tenant_created", "memberships", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "invitations",
        _id(),
        _fk("tenant_id", "tenants.id"),
        _text("email", 320),
        _text("role", 20),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _text("invited_by", 200),
        _at("created_at"),
        _at("expires_at"),
        _at("accepted_at", nullable=True),
        _at("revoked_at", nullable=True),
    )
    op.create_index(
        "ix_invitations_tenant_created", "invitations", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "user_sessions",
        _id(),
        _fk("user_id", "users.id"),
        _fk("tenant_id", "tenants.id"),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _text("csrf_hash", 64),
        _text("method", 20),
        _text("address", 64),
        _text("user_agent", 200),
        _at("mfa_at", nullable=True),
        _text("challenge", 200, nullable=True),
        _at("challenge_expires_at", nullable=True),
        _at("created_at"),
        _at("last_seen_at"),
        _at("expires_at"),
        _at("revoked_at", nullable=True),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "recovery_codes",
        _id(),
        _fk("user_id", "users.id"),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        _at("created_at"),
        _at("used_at", nullable=True),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "passkeys",
        _id(),
        _fk("user_id", "users.id"),
        sa.Column("credential_id", sa.String(1400), nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        _text("name", 100),
        sa.Column("transports", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("last_used_at", nullable=True),
    )
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])
    op.create_table(
        "sign_in_throttles",
        sa.Column("subject", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _at("last_failure_at"),
        _at("locked_until", nullable=True),
    )
    op.create_table(
        "key_address_ranges",
        _id(),
        _fk("key_id", "api_keys.id"),
        _text("network", 64),
        _at("first_seen_at"),
        sa.UniqueConstraint("key_id", "network"),
    )
    op.create_index("ix_key_address_ranges_key_id", "key_address_ranges", ["key_id"])
    _create_audit()


def _create_audit() -> None:
    op.create_table(
        "audit_events",
        _id(),
        _text("chain", 32),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("tenant_id", 32, nullable=True),
        _at("created_at"),
        _text("action", 80),
        _text("target_type", 40),
        _text("target_id", 200, nullable=True),
        _text("actor_kind", 20),
        _text("actor_id", 64, nullable=True),
        _text("actor_name", 320),
        _text("actor_role", 400, nullable=True),
        _text("source_address", 64, nullable=True),
        _text("request", 300, nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        _text("prev_hash", 64),
        _text("hash", 64),
        sa.UniqueConstraint("chain", "seq"),
    )
    op.create_index(
        "ix_audit_events_tenant_created", "audit_events", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("hash", 64),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION aybiza_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION aybiza_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION aybiza_audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    for table in (
        "audit_chain_heads",
        "audit_events",
        "key_address_ranges",
        "sign_in_throttles",
        "passkeys",
        "recovery_codes",
        "user_sessions",
        "invitations",
        "memberships",
        "users",
    ):
        op.drop_table(table)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("mfa_required")
