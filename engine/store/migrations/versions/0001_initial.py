"""The initial result store: runs, calls and their speakers, turns, utterances, embeddings,
drivers, flags, and the quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A 64-bit key on PostgreSQL; on SQLite only INTEGER PRIMARY KEY autoincrements.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def _call_pk(table: str) -> sa.Column[int]:
    return sa.Column(
        "call_pk",
        sa.Integer(),
        sa.ForeignKey("calls.id", name=f"fk_{table}_call_pk_calls", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("archive", sa.Text(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("discovered", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Double(), nullable=False),
        sa.Column("wall_seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("night", sa.String(), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("channel_layout", sa.String(), nullable=True),
        sa.Column("derived", sa.Text(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("language_probability", sa.Double(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("diarisation_method", sa.String(), nullable=False),
        sa.Column("audio_path", sa.Text(), nullable=False),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("codec", sa.String(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", name="fk_calls_run_id_runs", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("processed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("call_id", name="uq_calls_call_id"),
    )
    for column in ("started_at", "customer_id", "agent_id", "night", "run_id"):
        op.create_index(f"ix_calls_{column}", "calls", [column])
    op.create_table(
        "speakers",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("speakers"),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("speech_seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_speakers"),
        sa.UniqueConstraint("call_pk", "idx", name="uq_speakers_call_pk_idx"),
    )
    op.create_table(
        "turns",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("turns"),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
        sa.UniqueConstraint("call_pk", "idx", name="uq_turns_call_pk_idx"),
    )
    op.create_table(
        "utterances",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("utterances"),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_utterances"),
        sa.UniqueConstraint("call_pk", "idx", name="uq_utterances_call_pk_idx"),
    )
    op.create_index("ix_utterances_role", "utterances", ["role"])
    op.create_table(
        "embeddings",
        sa.Column("id", BIG_KEY, nullable=False),
        sa.Column(
            "utterance_id",
            BIG_KEY,
            sa.ForeignKey(
                "utterances.id", name="fk_embeddings_utterance_id_utterances", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_embeddings"),
        sa.UniqueConstraint("utterance_id", "model", name="uq_embeddings_utterance_id_model"),
    )
    op.create_table(
        "drivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drivers"),
        sa.UniqueConstraint("name", name="uq_drivers_name"),
    )
    op.create_table(
        "call_drivers",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("call_drivers"),
        sa.Column(
            "driver_id",
            sa.Integer(),
            sa.ForeignKey(
                "drivers.id", name="fk_call_drivers_driver_id_drivers", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_drivers"),
        sa.UniqueConstraint("call_pk", "driver_id", name="uq_call_drivers_call_pk_driver_id"),
    )
    op.create_index("ix_call_drivers_driver_id", "call_drivers", ["driver_id"])
    op.create_table(
        "flags",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("flags"),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("start", sa.Double(), nullable=True),
        sa.Column("end", sa.Double(), nullable=True),
        sa.Column("speaker_role", sa.String(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_flags"),
    )
    op.create_index("ix_flags_call_pk", "flags", ["call_pk"])
    op.create_index("ix_flags_kind", "flags", ["kind"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("problem", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", name="fk_quarantine_run_id_runs", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.UniqueConstraint("call_id", "path", name="uq_quarantine_call_id_path"),
    )
    op.create_index("ix_quarantine_run_id", "quarantine", ["run_id"])


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("flags")
    op.drop_table("call_drivers")
    op.drop_table("drivers")
    op.drop_table("embeddings")
    op.drop_table("utterances")
    op.drop_table("turns")
    op.drop_table("speakers")
    op.drop_table("calls")
    op.drop_table("runs")
