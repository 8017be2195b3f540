"""Store-wide settings (key/value), starting with PII redaction.

A store created at this revision (no calls yet) redacts PII by default; a store that already
holds calls keeps storing transcripts as before until redaction is turned on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    settings = op.create_table(
        "store_settings",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_settings"),
    )
    has_calls = op.get_bind().execute(sa.text("SELECT 1 FROM calls LIMIT 1")).first()
    op.bulk_insert(settings, [{"key": "redact_pii", "value": "off" if has_calls else "on"}])


def downgrade() -> None:
    op.drop_table("store_settings")
