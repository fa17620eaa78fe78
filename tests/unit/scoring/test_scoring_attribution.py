"""The MQL event names the source and campaign of the signals that made the lead an MQL."""

from __future__ import annotations

from handoff_scoring.domain.explanation import attribution
from handoff_scoring.domain.lead import Lead


def test_attribution_lists_the_cycles_sources_and_campaigns_last_touch_last() -> None:
    lead = Lead(
        "L-1",
        history=[
            (10.0, "email_open", {"campaign": "old-cycle", "source": "marketo"}),
            (100.0, "email_click", {"campaign": "newsletter", "source": "marketo"}),
            (110.0, "page_view", {"url": "/pricing"}),
            (120.0, "webinar_attended", {"campaign": "q4-webinar", "source": "hubspot"}),
            (130.0, "email_click", {"campaign": "newsletter", "source": "marketo"}),
            (500.0, "demo_request", {"campaign": "after-the-mql", "source": "segment"}),
        ],
        opens_at=50.0,  # this cycle starts after the first signal
    )
    sources, campaigns = attribution(lead, at=130.0)
    assert sources == ["hubspot", "marketo"]
    assert campaigns == ["q4-webinar", "newsletter"]


def test_a_lead_whose_signals_name_nothing_has_no_attribution() -> None:
    lead = Lead("L-2", history=[(1.0, "page_view", None), (2.0, "page_view", {"url": "/"})])
    assert attribution(lead, at=5.0) == ([], [])
