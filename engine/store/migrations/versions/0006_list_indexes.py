"""Indexes for the calls list: (started_at, call_id) for its order and cursor, and
flags (call_pk, kind) so "has an emotion spike" is one index probe per call (with flags
indexed by call_pk and kind apart, SQLite probed by kind and scanned every spike).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_started_at_call_id", "calls", ["started_at", "call_id"])
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.create_index("ix_flags_call_pk_kind", "flags", ["call_pk", "kind"])
    op.drop_index("ix_flags_call_pk", table_name="flags")


def downgrade() -> None:
    op.create_index("ix_flags_call_pk", "flags", ["call_pk"])
    op.drop_index("ix_flags_call_pk_kind", table_name="flags")
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.drop_index("ix_calls_started_at_call_id", table_name="calls")
