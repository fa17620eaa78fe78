"""The shared CEL conditions: compile once, refuse unknown names, never raise on a missing trait."""

import pytest

from handoff.expressions import ExpressionError, compile_condition

pytestmark = pytest.mark.unit


def test_the_seed_criterion_holds_for_a_lead_that_meets_every_part() -> None:
    seed = compile_condition(
        "counts.content_engagement_30d >= 3 && traits.company_size >= 50"
        " && traits.company_size <= 500 && counts.pricing_page_view_30d >= 1",
        ["counts", "traits"],
    )
    lead = {
        "counts": {"content_engagement_30d": 3, "pricing_page_view_30d": 1},
        "traits": {"company_size": 120},
    }
    assert seed.holds(lead)
    assert not seed.holds({**lead, "traits": {"company_size": 600}})


def test_a_missing_trait_does_not_match_instead_of_raising() -> None:
    condition = compile_condition("traits.country == 'JP'", ["traits"])
    assert not condition.holds({"traits": {}})


def test_an_unknown_variable_is_refused_at_compile_time() -> None:
    with pytest.raises(ExpressionError, match="unknown variable scroe"):
        compile_condition("scroe > 10", ["score", "traits"])


def test_a_syntax_error_is_refused_at_compile_time() -> None:
    with pytest.raises(ExpressionError, match="Syntax error"):
        compile_condition("score >= ", ["score"])
