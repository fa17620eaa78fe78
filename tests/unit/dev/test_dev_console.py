"""The `handoff dev` console: events printed in causal order, rejections with their labels;
and the pieces of supervision that need no servers (backoff, a stale postmaster.pid)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from handoff.events import routing, scoring, sla
from handoff_dev.postgres import EmbeddedPostgres
from handoff_dev.supervise import Backoff
from handoff_dev.tail import CausalOrder, describe
from tests.factories import T0, mql

LEAD = "L-0001"


def _action(at: Any, **extra: Any) -> dict[str, Any]:
    return {"lead_id": LEAD, "handoff_id": "h-1", "rep_id": "aiko", "at": at, **extra}


def assigned(at: Any, handoff_id: str = "h-1") -> routing.LeadAssigned:
    return routing.LeadAssigned(
        id=f"assigned-{handoff_id}",
        subject=LEAD,
        time=at,
        data=routing.AssignedData(
            lead_id=LEAD,
            handoff_id=handoff_id,
            mql_id="mql-1",
            rep_id="aiko",
            pool="inside-sales",
            rule="default_pool",
            assigned_at=at,
            decision=[],
        ),
    )


def accepted(at: Any) -> routing.LeadAccepted:
    return routing.LeadAccepted(
        id="accepted", subject=LEAD, time=at, data=routing.HandoffActionData(**_action(at))
    )


def rejected(at: Any, code: str = "no_budget") -> routing.LeadRejected:
    return routing.LeadRejected(
        id="rejected",
        subject=LEAD,
        time=at,
        data=routing.RejectedData(**_action(at), reason_code=code, note="demo"),
    )


def reassigned(at: Any) -> routing.LeadReassigned:
    return routing.LeadReassigned(
        id="reassigned",
        subject=LEAD,
        time=at,
        data=routing.ReassignedData(**_action(at), new_handoff_id="h-2", reason="wrong_territory"),
    )


def met(at: Any) -> sla.SlaMet:
    return sla.SlaMet(
        id="met",
        subject=LEAD,
        time=at,
        data=sla.MetData(
            lead_id=LEAD,
            handoff_id="h-1",
            timer_id="t-1",
            policy="accept-within",
            stage="accept",
            due_at=at,
            elapsed=sla.Elapsed(wall_seconds=3.0, business_seconds=3.0),
            met_at=at,
        ),
    )


def mql_at(at: Any) -> scoring.LeadMql:
    return mql(LEAD).model_copy(update={"time": at})


def released(arrivals: list[tuple[str, Any]], hold: float = 1.0) -> list[Any]:
    """Feed events in the given arrival order, 0.01 s apart, and release them all."""
    order = CausalOrder(hold)
    for n, (topic, event) in enumerate(arrivals):
        order.add(topic, event, now=n * 0.01)
    return order.release(now=100.0)


def test_an_assignment_fetched_before_its_mql_prints_after_it() -> None:
    the_mql = mql_at(T0)
    assignment = assigned(T0 + timedelta(milliseconds=40))
    out = released([(routing.TOPIC, assignment), (scoring.TOPIC, the_mql)])
    assert out == [the_mql, assignment]


def test_an_sla_met_fetched_before_the_acceptance_that_stopped_it_prints_after_it() -> None:
    # sla-watch stamps the met event with the acceptance's own time: a tie the topics break.
    at = T0 + timedelta(seconds=5)
    out = released([(sla.TOPIC, met(at)), (routing.TOPIC, accepted(at))])
    assert [type(e) for e in out] == [routing.LeadAccepted, sla.SlaMet]


def test_one_routing_change_prints_action_then_consequence_then_new_assignment() -> None:
    at = T0 + timedelta(seconds=9)
    new = assigned(at, handoff_id="h-2")
    out = released(
        [(routing.TOPIC, new), (routing.TOPIC, reassigned(at)), (routing.TOPIC, rejected(at))]
    )
    assert [type(e) for e in out] == [
        routing.LeadRejected,
        routing.LeadReassigned,
        routing.LeadAssigned,
    ]


def test_times_never_go_backwards_across_topics() -> None:
    later, earlier = accepted(T0 + timedelta(seconds=2)), mql_at(T0)
    out = released([(routing.TOPIC, later), (scoring.TOPIC, earlier)])
    assert [e.time for e in out] == sorted(e.time for e in out)
    assert out[0] is earlier


def test_events_are_held_for_the_hold_time_and_released_with_what_precedes_them() -> None:
    order = CausalOrder(hold_seconds=1.0)
    first = accepted(T0 + timedelta(seconds=1))
    order.add(routing.TOPIC, first, now=0.0)
    assert order.release(now=0.5) == []
    cause = mql_at(T0)  # arrives late but happened first: released with `first`
    after = met(T0 + timedelta(seconds=3))  # arrives late and happened later: stays held
    order.add(scoring.TOPIC, cause, now=0.9)
    order.add(sla.TOPIC, after, now=0.9)
    assert order.release(now=1.0) == [cause, first]
    assert order.release(now=1.5) == []
    assert order.release(now=2.0) == [after]


def test_a_rejection_prints_its_label_not_its_code() -> None:
    line = describe(rejected(T0), {"no_budget": "No budget"})
    assert line is not None
    assert "No budget" in line
    assert "no_budget" not in line


def test_a_rejection_with_an_unknown_code_prints_the_code() -> None:
    line = describe(rejected(T0, code="new_code"), {"no_budget": "No budget"})
    assert line is not None and "new_code" in line


def test_backoff_doubles_to_a_cap_and_is_forgiven_after_a_healthy_run() -> None:
    backoff = Backoff(first=1.0, most=8.0, healthy_after=60.0)
    assert [backoff.next_delay(up_for=1.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.next_delay(up_for=61.0) == 1.0


def test_a_stale_postmaster_pid_naming_another_process_is_removed_not_signalled(
    tmp_path: Path,
) -> None:
    """A killed postmaster leaves postmaster.pid; its pid may since be someone else's."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pg = EmbeddedPostgres(tmp_path / "pg", port=1)
        pg.data_dir.mkdir()
        (pg.data_dir / "postmaster.pid").write_text(f"{bystander.pid}\n{pg.data_dir}\n")
        pg._stop_leftover()
        assert bystander.poll() is None  # not interrupted
        assert not (pg.data_dir / "postmaster.pid").exists()  # PostgreSQL would refuse it
    finally:
        bystander.kill()
        bystander.wait()


def test_the_embedded_postgres_is_durable_unless_asked(tmp_path: Path) -> None:
    assert EmbeddedPostgres(tmp_path, 1).durable is True
    assert EmbeddedPostgres(tmp_path, 1, durable=False).durable is False
