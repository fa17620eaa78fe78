"""Routing's fast deterministic ids are the very UUIDs the shared fact_id gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handoff.events.envelope import fact_id
from handoff_routing.adapters.events_out import fast_fact_id
from handoff_routing.service_layer.handoff_batch import handoff_id_for


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_fast_fact_id_equals_fact_id(parts: list[str]) -> None:
    assert fast_fact_id(*parts) == fact_id(*parts)


def test_handoff_ids_follow_the_contract() -> None:
    assert handoff_id_for("mql-1") == fact_id("handoff", "mql-1")
    assert handoff_id_for("mql-1", 3) == fact_id("handoff", "mql-1", "3")
