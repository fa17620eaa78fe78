"""sla: due times in a narrow queue table, so firing a timer is a delete (or a HOT update).

Before, "what is due" was a partial index on the wide timer row's `next_at`, and the open
breaches and the ended timers were partial indexes on its `state`: a fired timer rewrote
the wide row and an entry in each of four indexes. Now:

- `sla.due` holds one narrow row (timer_id, next_at, kind) per timer with a step left to
  fire; the firer claims it with SKIP LOCKED and deletes it (or moves it to the next
  escalation step). Its foreign key cascades, so pruning or deleting a timer drops it.
- the timer row keeps `next_at` and `state` (what the API shows), but no index reads the
  columns firing changes (`state`, `next_at`, `fired_at`, `attempts`, `escalation_level`),
  and the table fills new pages only to 45%: a fired row's new version (a little longer: it
  gains `fired_at`) fits beside the old one, so the write-back is a HOT update.
- GET /v1/sla/overdue reads `timers_open_due` (unstopped timers by due time) and retention
  reads `timers_ended` on `stopped_at IS NOT NULL` (the same rows as "met or cancelled":
  every stop sets both).

Every pending timer (and every breach with an escalation left) is copied into the queue.
Existing pages stay packed until the table is rewritten (VACUUM FULL, or as rows turn over).

Revision ID: 0300_due_queue
Revises: 0200_retention
Create Date: 2026-12-01
"""

from alembic import op

revision = "0300_due_queue"
down_revision = "0200_retention"
branch_labels = None
depends_on = None

# Which step of a timer is next: the warning, the breach, or an escalation of a breach.
KIND = (
    "CASE WHEN {t}.state = 'breached' THEN 'escalation' "
    "WHEN {t}.next_at < {t}.due_at THEN 'warning' ELSE 'breach' END"
)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE sla.due ("
        " timer_id text PRIMARY KEY REFERENCES sla.timers (timer_id) ON DELETE CASCADE,"
        " next_at timestamptz NOT NULL,"
        " kind text NOT NULL CONSTRAINT due_kind_check"
        "  CHECK (kind IN ('warning', 'breach', 'escalation')))"
    )
    op.execute("CREATE INDEX due_next_at ON sla.due (next_at)")
    op.execute(
        "INSERT INTO sla.due (timer_id, next_at, kind) "
        f"SELECT t.timer_id, t.next_at, {KIND.format(t='t')} FROM sla.timers AS t "
        "WHERE t.next_at IS NOT NULL AND t.state IN ('pending', 'breached') "
        "AND t.due_at IS NOT NULL"
    )
    op.execute("DROP INDEX IF EXISTS sla.timers_next_at")
    op.execute("DROP INDEX IF EXISTS sla.timers_breached_due")
    op.execute("DROP INDEX IF EXISTS sla.timers_ended")
    op.execute(
        "CREATE INDEX timers_open_due ON sla.timers (due_at) "
        "WHERE stopped_at IS NULL AND due_at IS NOT NULL"
    )
    op.execute("CREATE INDEX timers_ended ON sla.timers (stopped_at) WHERE stopped_at IS NOT NULL")
    op.execute("ALTER TABLE sla.timers SET (fillfactor = 45)")


def downgrade() -> None:
    op.execute("ALTER TABLE sla.timers RESET (fillfactor)")
    op.execute("DROP INDEX IF EXISTS sla.timers_ended")
    op.execute("DROP INDEX IF EXISTS sla.timers_open_due")
    op.execute(
        "CREATE INDEX timers_ended ON sla.timers (stopped_at) WHERE state IN ('met', 'cancelled')"
    )
    op.execute("CREATE INDEX timers_breached_due ON sla.timers (due_at) WHERE state = 'breached'")
    op.execute("CREATE INDEX timers_next_at ON sla.timers (next_at) WHERE next_at IS NOT NULL")
    op.execute("DROP TABLE sla.due")
