"""utterances.cue_reason: the per-call cues' verdict on an utterance (reason or not), kept
apart from is_reason, which the night analysis sets after learning scaffolding from the store
(engine.analytics.scaffolding). NULL (rows stored before this revision): is_reason holds it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.add_column(sa.Column("cue_reason", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.drop_column("cue_reason")
