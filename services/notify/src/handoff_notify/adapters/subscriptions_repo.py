"""The subscriptions repository: one query per batch reads them all, so a change made
through the API reaches the next batch of every instance without a restart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_notify.domain.breaker import Health
from handoff_notify.domain.subscriptions import Subscription

COLUMNS = (
    "subscription_id, channel, url, secrets, event_types, pools, teams, reps, language, "
    "description, origin, consecutive_failures, failing_since, open_until, disabled_at, "
    "disabled_reason, created_at, updated_at"
)


def subscription_of(row: Any) -> Subscription:
    m = row._mapping
    return Subscription(
        subscription_id=m["subscription_id"],
        channel=m["channel"],
        url=m["url"],
        event_types=tuple(m["event_types"]),
        secrets=tuple(m["secrets"]),
        pools=tuple(m["pools"]),
        teams=tuple(m["teams"]),
        reps=tuple(m["reps"]),
        language=m["language"],
        disabled=m["disabled_at"] is not None,
        description=m["description"],
        origin=m["origin"],
    )


def health_of(row: Any) -> Health:
    m = row._mapping
    return Health(
        consecutive_failures=m["consecutive_failures"],
        failing_since=m["failing_since"],
        open_until=m["open_until"],
        disabled_at=m["disabled_at"],
        disabled_reason=m["disabled_reason"],
    )


async def enabled(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(
        text(f"SELECT {COLUMNS} FROM notify.subscriptions WHERE disabled_at IS NULL")
    )
    return [subscription_of(r) for r in rows]


async def all_rows(conn: AsyncConnection) -> list[Any]:
    rows = await conn.execute(
        text(f"SELECT {COLUMNS} FROM notify.subscriptions ORDER BY subscription_id")
    )
    return list(rows)


async def one_row(conn: AsyncConnection, subscription_id: str) -> Any | None:
    rows = await conn.execute(
        text(f"SELECT {COLUMNS} FROM notify.subscriptions WHERE subscription_id = :id"),
        {"id": subscription_id},
    )
    return rows.first()


def _params(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.subscription_id,
        "channel": sub.channel,
        "url": sub.url,
        "secrets": list(sub.secrets),
        "event_types": list(sub.event_types),
        "pools": list(sub.pools),
        "teams": list(sub.teams),
        "reps": list(sub.reps),
        "language": sub.language,
        "description": sub.description,
        "origin": sub.origin,
    }


UPSERT = (
    "INSERT INTO notify.subscriptions (subscription_id, channel, url, secrets, event_types, "
    "pools, teams, reps, language, description, origin) VALUES (:id, :channel, :url, "
    "CAST(:secrets AS text[]), CAST(:event_types AS text[]), CAST(:pools AS text[]), "
    "CAST(:teams AS text[]), CAST(:reps AS text[]), :language, :description, :origin) "
    "ON CONFLICT (subscription_id) DO UPDATE SET channel = excluded.channel, url = excluded.url, "
    "secrets = excluded.secrets, event_types = excluded.event_types, pools = excluded.pools, "
    "teams = excluded.teams, reps = excluded.reps, language = excluded.language, "
    "description = excluded.description, origin = excluded.origin, updated_at = now()"
)


async def insert(conn: AsyncConnection, sub: Subscription) -> bool:
    """Add a new subscription; False if its id is taken."""
    result = await conn.execute(
        text(UPSERT.split(" ON CONFLICT")[0] + " ON CONFLICT (subscription_id) DO NOTHING"),
        _params(sub),
    )
    return bool(result.rowcount)


async def replace(conn: AsyncConnection, sub: Subscription) -> None:
    await conn.execute(text(UPSERT), _params(sub))


async def delete(conn: AsyncConnection, subscription_id: str) -> bool:
    result = await conn.execute(
        text("DELETE FROM notify.subscriptions WHERE subscription_id = :id"),
        {"id": subscription_id},
    )
    return bool(result.rowcount)


async def sync_config(conn: AsyncConnection, subs: Sequence[Subscription]) -> None:
    """Make the file's subscriptions the stored ones of origin 'config'; those taken out of the
    file go. Their endpoint health is kept across restarts (an upsert leaves it alone)."""
    for sub in subs:
        await replace(conn, sub)
    await conn.execute(
        text(
            "DELETE FROM notify.subscriptions WHERE origin = 'config' "
            "AND NOT (subscription_id = ANY(CAST(:ids AS text[])))"
        ),
        {"ids": [s.subscription_id for s in subs]},
    )


async def enable(conn: AsyncConnection, subscription_id: str, now: datetime) -> bool:
    result = await conn.execute(
        text(
            "UPDATE notify.subscriptions SET disabled_at = NULL, disabled_reason = NULL, "
            "consecutive_failures = 0, failing_since = NULL, open_until = NULL, updated_at = :now "
            "WHERE subscription_id = :id"
        ),
        {"id": subscription_id, "now": now},
    )
    return bool(result.rowcount)
