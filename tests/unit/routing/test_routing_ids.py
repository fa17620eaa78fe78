"""Routing's deterministic ids are the UUID 5 values CONTRACT.md names, computed by the shared
fast `fact_id`."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from handoff.events.encode import NAMESPACE, fact_id
from handoff_routing.service_layer.handoff_batch import handoff_id_for


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_fact_id_is_the_uuid5_of_the_parts_joined_by_unit_separators(parts: list[str]) -> None:
    assert fact_id(*parts) == str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def test_handoff_ids_follow_the_contract() -> None:
    assert handoff_id_for("mql-1") == str(uuid.uuid5(NAMESPACE, "handoff\x1fmql-1"))
    assert handoff_id_for("mql-1", 3) == fact_id("handoff", "mql-1", "3")
