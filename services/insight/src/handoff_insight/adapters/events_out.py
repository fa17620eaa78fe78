"""Every event insight emits: handoff.funnel.alert on handoff.insight.v1, through the outbox
and the shared encoder (the model's to_json)."""

from __future__ import annotations

from handoff.events import insight as ev
from handoff.events.encode import fact_id
from handoff.messaging.producer import Message
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.domain.bands import Band


def alert_id(band: str, group_by: str, group: str) -> str:
    return fact_id("funnel.alert", band, group_by, group)


def funnel_alert(state: AlertState, band: Band, window: str) -> ev.FunnelAlert:
    the_alert = alert_id(state.band, state.group_by, state.group)
    kind = "raised" if state.raised else "cleared"
    return ev.FunnelAlert(
        # The same transition published again keeps its id; the next transition gets a new one.
        id=fact_id("funnel.alert", the_alert, kind, state.changed_at.isoformat()),
        subject=f"{state.group_by}:{state.group}",
        time=state.changed_at,
        data=ev.FunnelAlertData(
            alert_id=the_alert,
            state=kind,
            band=band.name,
            metric=band.metric,
            value=state.value,
            lower=band.below,
            upper=band.at_or_above,
            window=window,
            group_by=state.group_by,
            group=state.group,
            samples=state.samples,
            at=state.changed_at,
        ),
    )


def message(event: ev.FunnelAlert) -> Message:
    # Keyed by the group (the subject), so a group's raised and cleared stay in order.
    return Message.of(ev.TOPIC, event)
