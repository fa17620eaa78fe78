"""Scoring: each lead's activities move out of its state into an append-only log.

Creates scoring.activities and converts every lead row: the history its state held (Python
marshal, or JSON from the first release) becomes rows of scoring.activities, and the state is
rewritten in the versioned MessagePack layout of adapters/lead_state.py, without the history.
The tally is left out, so each lead's first signal after the upgrade refolds it (with the
sequences' progress) from the log, once. Converted a thousand leads at a time; stop the old
scoring instances first (they cannot read the new layout). The downgrade folds the log back
into marshal states.

Revision ID: 0400_activity_log
Revises: 0300_drop_webhook_deliveries
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from handoff_scoring.adapters import lead_state
from handoff_scoring.domain.lead import Lead

revision = "0400_activity_log"
down_revision = "0300_drop_webhook_deliveries"
branch_labels = None
depends_on = None

SCHEMA = "scoring"
CHUNK = 1000


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.Float(53), nullable=False),
        sa.Column("activity_type", sa.Text, nullable=False),
        sa.Column("properties", sa.dialects.postgresql.JSONB),
        schema=SCHEMA,
    )
    op.create_index("activities_lead", "activities", ["lead_id", "occurred_at"], schema=SCHEMA)
    conn = op.get_bind()
    for rows in _chunks(conn, "get_byte(state, 0) <> 1"):
        leads = [lead_state.decode(lead_id, bytes(state)) for lead_id, state in rows]
        entries = [(lead.lead_id, *entry) for lead in leads for entry in lead.history]
        if entries:
            conn.execute(
                sa.text(
                    f"INSERT INTO {SCHEMA}.activities "
                    "(lead_id, occurred_at, activity_type, properties) "
                    "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:ats AS float8[]), "
                    "CAST(:kinds AS text[]), CAST(:props AS jsonb[]))"
                ),
                {
                    "ids": [e[0] for e in entries],
                    "ats": [float(e[1]) for e in entries],
                    "kinds": [e[2] for e in entries],
                    "props": [None if e[3] is None else json.dumps(e[3]) for e in entries],
                },
            )
        _set_states(conn, [(lead.lead_id, lead_state.encode(lead)) for lead in leads])


def downgrade() -> None:
    conn = op.get_bind()
    for rows in _chunks(conn, "get_byte(state, 0) = 1"):
        leads = [lead_state.decode(lead_id, bytes(state)) for lead_id, state in rows]
        found: dict[str, list[Any]] = {}
        for lead_id, at, kind, props in conn.execute(
            sa.text(
                f"SELECT lead_id, occurred_at, activity_type, properties FROM {SCHEMA}.activities "
                "WHERE lead_id = ANY(CAST(:ids AS text[])) "
                "ORDER BY lead_id, occurred_at, activity_type, seq"
            ),
            {"ids": [lead.lead_id for lead in leads]},
        ):
            props = json.loads(props) if isinstance(props, str) else props
            found.setdefault(lead_id, []).append([at, kind, props])
        _set_states(conn, [(lead.lead_id, _marshal_state(lead, found)) for lead in leads])
    op.drop_table("activities", schema=SCHEMA)


def _chunks(conn: Connection, which: str) -> Iterator[list[Any]]:
    """The lead rows whose state matches `which`, a thousand at a time in lead_id order."""
    after = ""
    while True:
        rows = conn.execute(
            sa.text(
                f"SELECT lead_id, state FROM {SCHEMA}.leads WHERE lead_id > :after AND {which} "
                "ORDER BY lead_id LIMIT :n"
            ),
            {"after": after, "n": CHUNK},
        ).all()
        if not rows:
            return
        yield list(rows)
        after = rows[-1][0]


def _set_states(conn: Connection, states: list[tuple[str, bytes]]) -> None:
    conn.execute(
        sa.text(
            f"UPDATE {SCHEMA}.leads AS l SET state = u.state "
            "FROM unnest(CAST(:ids AS text[]), CAST(:states AS bytea[])) AS u(lead_id, state) "
            "WHERE l.lead_id = u.lead_id"
        ),
        {"ids": [s[0] for s in states], "states": [s[1] for s in states]},
    )


def _marshal_state(lead: Lead, found: dict[str, list[Any]]) -> bytes:
    """The state as releases before 0400 wrote it: the history inside, the tally left to be
    refolded (they rebuild a missing one)."""
    state: dict[str, Any] = {"h": found.get(lead.lead_id, []), "c": lead.cycle}
    optional = {
        "t": lead.traits or None,
        "ta": lead.traits_at,
        "o": lead.opens_at,
        "x": 1 if lead.closed else None,
        "q": lead.qualified_at,
        "g": lead.trigger if lead.qualified_at is not None else None,
        "d": lead.disqualified,
        "da": 1 if lead.disqualified is not None and lead.dq_by_activity else None,
        "e": None if lead.emitted is None else list(lead.emitted),
        "a": lead.aliases or None,
        "r": lead.erased_at,
    }
    if lead.fit_cache is not None:
        version, fit = lead.fit_cache
        optional["f"] = [version, fit.points, fit.grade, list(fit.rules)]
    state.update({k: v for k, v in optional.items() if v is not None})
    return lead_state.LEGACY_MARSHAL + marshal.dumps(state, 4)
