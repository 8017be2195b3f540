"""VoC analytics: per-utterance signals and driver links, drivers with lineage and centroids,
driver edits, repeat links, alerts and analysis runs.

The drivers and call_drivers tables of 0001 were never written (nothing produced drivers
before this revision), so they are recreated rather than altered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    op.drop_index("ix_call_drivers_driver_id", table_name="call_drivers")
    op.drop_table("call_drivers")
    op.drop_table("drivers")
    op.create_table(
        "drivers",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_source", sa.String(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("exemplars", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drivers"),
    )
    op.create_index("ix_drivers_status", "drivers", ["status"])
    op.create_table(
        "call_drivers",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("call_drivers"),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_drivers"),
        sa.UniqueConstraint("call_pk", "driver_id", name="uq_call_drivers_call_pk_driver_id"),
    )
    op.create_index("ix_call_drivers_driver_id", "call_drivers", ["driver_id"])
    op.create_table(
        "driver_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_driver_edits"),
    )
    op.create_index("ix_driver_edits_driver_id", "driver_edits", ["driver_id"])
    op.create_table(
        "repeat_links",
        sa.Column("id", BIG_KEY, nullable=False),
        _call_pk("repeat_links"),
        sa.Column("earlier_call_id", sa.String(), nullable=False),
        sa.Column("gap_days", sa.Double(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=True),
        sa.Column("similarity", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repeat_links"),
        sa.UniqueConstraint("call_pk", name="uq_repeat_links_call_pk"),
    )
    op.create_index("ix_repeat_links_earlier_call_id", "repeat_links", ["earlier_call_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("observed", sa.Double(), nullable=False),
        sa.Column("baseline", sa.Double(), nullable=False),
        sa.Column("p_value", sa.Double(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint(
            "driver_id", "day", "metric", "kind", name="uq_alerts_driver_id_day_metric_kind"
        ),
    )
    op.create_index("ix_alerts_day", "alerts", ["day"])
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("reason_utterances", sa.Integer(), nullable=False),
        sa.Column("active_drivers", sa.Integer(), nullable=False),
        sa.Column("new_drivers", sa.Integer(), nullable=False),
        sa.Column("unassigned", sa.Double(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("wall_seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_analysis_runs"),
    )
    for name in ("sentiment", "pitch", "energy_db", "rate", "driver_score"):
        op.add_column("utterances", sa.Column(name, sa.Double(), nullable=True))
    op.add_column(
        "utterances",
        sa.Column("is_reason", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("utterances", sa.Column("driver_id", sa.Integer(), nullable=True))
    op.create_index("ix_utterances_driver_id", "utterances", ["driver_id"])


def downgrade() -> None:
    op.drop_index("ix_utterances_driver_id", table_name="utterances")
    with op.batch_alter_table("utterances") as batch:
        for name in ("driver_id", "is_reason", "driver_score", "rate", "energy_db", "pitch"):
            batch.drop_column(name)
        batch.drop_column("sentiment")
    op.drop_table("analysis_runs")
    op.drop_table("alerts")
    op.drop_table("repeat_links")
    op.drop_table("driver_edits")
    op.drop_table("call_drivers")
    op.drop_table("drivers")
    # 0001's (empty) driver tables, as they were
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
