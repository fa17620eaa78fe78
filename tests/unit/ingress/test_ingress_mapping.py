"""Provider payloads to handoff signals through the shipped mappings, and ingress config mistakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handoff.config_file import ConfigError
from handoff_ingress.config import IngressConfig, load_ingress
from handoff_ingress.domain.mapping import map_events
from handoff_ingress.domain.provider_events import BadPayload, MappedSignal
from handoff_ingress.domain.providers import hubspot, marketo, segment

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ENV = {
    "HANDOFF_WEBHOOK_STANDARD_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "HANDOFF_WEBHOOK_HUBSPOT_SECRET": "hubspot-client-secret-0001",
    "HANDOFF_WEBHOOK_SEGMENT_SECRET": "segment-shared-secret-0001",
    "HANDOFF_WEBHOOK_MARKETO_TOKEN": "marketo-token-0123456789",
}


@pytest.fixture(scope="module")
def shipped() -> IngressConfig:
    return load_ingress(REPO / "config" / "ingress.yaml", ENV)


def mapped(cfg: IngressConfig, source: str, events: list) -> tuple[list[MappedSignal], list[str]]:  # type: ignore[type-arg]
    result = map_events(cfg.sources[source].mapping, events, source)
    return result.signals, result.unmapped


class TestHubSpot:
    def read(self, cfg: IngressConfig, payload: object) -> list:  # type: ignore[type-arg]
        src = cfg.sources["hubspot"]
        return hubspot.read(
            json.dumps(payload).encode(),
            lead_prefix=src.lead_id_prefix,
            trait_names=src.traits,
            now=NOW,
        )

    def test_a_pricing_page_visit_becomes_pricing_page_view(self, shipped: IngressConfig) -> None:
        events = self.read(
            shipped,
            [
                {"eventId": 7, "portalId": 62515, "subscriptionId": 1, "objectId": 123, "occurredAt": 1763719200000,
                 "eventName": "e_visited_page", "properties": {"hs_url": "https://acme.example/pricing"}},
                {"eventId": 8, "portalId": 62515, "subscriptionId": 1, "objectId": 123, "occurredAt": 1763719200000,
                 "eventName": "e_visited_page", "properties": {"hs_url": "https://acme.example/blog"}},
            ],
        )  # fmt: skip
        signals, unmapped = mapped(shipped, "hubspot", events)
        assert [s.type for s in signals] == ["pricing_page_view", "page_view"]
        assert signals[0].lead_id == "hubspot-123" and unmapped == []
        assert signals[0].occurred_at == datetime(2025, 11, 21, 10, 0, tzinfo=UTC)

    def test_contact_creation_and_trait_changes_identify_the_lead(
        self, shipped: IngressConfig
    ) -> None:
        base = {
            "portalId": 62515,
            "subscriptionId": 2,
            "objectId": 123,
            "occurredAt": 1763719200000,
        }
        events = self.read(
            shipped,
            [
                base | {"eventId": 1, "subscriptionType": "contact.creation"},
                base | {"eventId": 2, "subscriptionType": "contact.propertyChange",
                        "propertyName": "jobtitle", "propertyValue": "本部長"},
                base | {"eventId": 3, "subscriptionType": "contact.propertyChange",
                        "propertyName": "numemployees", "propertyValue": "201-500"},
                base | {"eventId": 4, "subscriptionType": "contact.propertyChange",
                        "propertyName": "favourite_colour", "propertyValue": "green"},
            ],
        )  # fmt: skip
        signals, unmapped = mapped(shipped, "hubspot", events)
        assert [s.type for s in signals] == ["identify", "identify", "identify"]
        assert signals[1].traits == {"title": "本部長"}
        assert signals[2].traits == {"company": {"size": 201}}
        assert unmapped == ["contact.propertyChange.favourite_colour"]
        assert len({s.delivery_id for s in signals}) == 3

    def test_a_merge_becomes_an_alias(self, shipped: IngressConfig) -> None:
        events = self.read(
            shipped,
            [{"eventId": 9, "portalId": 1, "subscriptionId": 3, "objectId": 5, "occurredAt": 1763719200000,
              "subscriptionType": "contact.merge", "primaryObjectId": 5, "mergedObjectIds": [4, 5]}],
        )  # fmt: skip
        signals, _ = mapped(shipped, "hubspot", events)
        assert [(s.type, s.lead_id, s.previous_id) for s in signals] == [
            ("alias", "hubspot-5", "hubspot-4")
        ]

    def test_a_workflow_webhook_carries_traits_and_names_its_activity(
        self, shipped: IngressConfig
    ) -> None:
        body = {"hs_object_id": "901", "email": "aiko@example.jp", "jobtitle": "CTO",
                "company": "Sakura Systems", "handoff_activity": "demo_request"}  # fmt: skip
        events = self.read(shipped, body)
        signals, _ = mapped(shipped, "hubspot", events)
        assert [s.type for s in signals] == ["identify", "demo_request"]
        assert signals[0].traits == {
            "email": "aiko@example.jp", "title": "CTO", "company": {"name": "Sakura Systems"}
        }  # fmt: skip
        again = self.read(shipped, body)
        assert [e.key for e in again] == [e.key for e in events]  # a retry has the same ids

    def test_the_legacy_workflow_shape_is_read_too(self, shipped: IngressConfig) -> None:
        events = self.read(shipped, {"vid": 77, "properties": {"email": {"value": "k@example.jp"}}})
        assert events[0].lead_id == "hubspot-77" and events[0].traits == {"email": "k@example.jp"}

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ([{"portalId": 1, "objectId": 1, "occurredAt": 1, "subscriptionType": "contact.creation"}], "0.eventId"),
            ([{"eventId": 1, "objectId": 1, "subscriptionType": "contact.creation"}], "0.occurredAt"),
            ([{"eventId": 1, "objectId": 1, "occurredAt": 1}], "0.subscriptionType"),
            (["nope"], "0"),
            ("text", "body"),
            ({"email": "x@example.jp"}, "hs_object_id"),
        ],
    )  # fmt: skip
    def test_a_payload_that_is_not_hubspot_s_names_the_field(
        self, shipped: IngressConfig, payload: object, field: str
    ) -> None:
        with pytest.raises(BadPayload) as err:
            self.read(shipped, payload)
        assert err.value.field == field


class TestSegment:
    def read(self, cfg: IngressConfig, payload: object) -> list:  # type: ignore[type-arg]
        return segment.read(
            json.dumps(payload).encode(), trait_names=cfg.sources["segment"].traits, now=NOW
        )

    def test_the_four_calls_and_a_batch_map_to_signals(self, shipped: IngressConfig) -> None:
        batch = {
            "batch": [
                {"type": "identify", "messageId": "m1", "userId": "u-1", "timestamp": "2026-11-21T09:00:00Z",
                 "traits": {"email": "a@example.jp", "title": "VP Sales",
                            "company": {"name": "Acme", "employee_count": 250}}},
                {"type": "track", "messageId": "m2", "userId": "u-1", "event": "Demo Requested",
                 "properties": {"plan": "pro"}},
                {"type": "page", "messageId": "m3", "anonymousId": "anon-9", "name": "Pricing",
                 "properties": {"path": "/pricing", "url": "https://acme.example/pricing"}},
                {"type": "alias", "messageId": "m4", "userId": "u-1", "previousId": "anon-9"},
                {"type": "track", "messageId": "m5", "userId": "u-1", "event": "Cart Viewed"},
            ]
        }  # fmt: skip
        signals, unmapped = mapped(shipped, "segment", self.read(shipped, batch))
        assert [(s.type, s.lead_id) for s in signals] == [
            ("identify", "u-1"),
            ("demo_request", "u-1"),
            ("pricing_page_view", "anon-9"),
            ("alias", "u-1"),
        ]
        assert signals[0].traits == {
            "email": "a@example.jp", "title": "VP Sales", "company": {"name": "Acme", "size": 250}
        }  # fmt: skip
        assert signals[0].occurred_at == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
        assert signals[3].previous_id == "anon-9"
        assert unmapped == ["Cart Viewed"]
        assert [s.delivery_id for s in signals] == ["m1", "m2", "m3", "m4"]

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"type": "track", "userId": "u", "event": "x"}, "messageId"),
            ({"type": "track", "messageId": "m", "event": "x"}, "userId"),
            ({"type": "track", "messageId": "m", "userId": "u"}, "event"),
            ({"type": "launch", "messageId": "m", "userId": "u"}, "type"),
            ({"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "x", "timestamp": "soon"}]},
             "batch.0.timestamp"),
            ({"batch": []}, "batch"),
        ],
    )  # fmt: skip
    def test_a_message_that_breaks_the_spec_names_the_field(
        self, shipped: IngressConfig, payload: object, field: str
    ) -> None:
        with pytest.raises(BadPayload) as err:
            self.read(shipped, payload)
        assert err.value.field == field


class TestMarketo:
    def read(self, cfg: IngressConfig, payload: object) -> list:  # type: ignore[type-arg]
        src = cfg.sources["marketo"]
        return marketo.read(
            json.dumps(payload).encode(),
            lead_prefix=src.lead_id_prefix,
            trait_names=src.traits,
            zone=src.zone,
            now=NOW,
        )

    def test_the_template_maps_fill_out_form_to_form_submit(self, shipped: IngressConfig) -> None:
        body = {"lead_id": "4711", "email": "ken@example.jp", "title": "部長", "company": "Fuji",
                "activity": "Fill Out Form", "form": "Contact Us", "campaign_id": "1001",
                "occurred_at": "2026-11-21 04:00:00", "phone": "{{lead.Phone Number}}"}  # fmt: skip
        signals, _ = mapped(shipped, "marketo", self.read(shipped, body))
        assert [s.type for s in signals] == ["identify", "form_submit"]
        assert signals[0].traits == {
            "email": "ken@example.jp",
            "title": "部長",
            "company": {"name": "Fuji"},
        }
        assert signals[1].lead_id == "marketo-4711"
        assert signals[1].properties == {"form": "Contact Us", "campaign_id": "1001"}
        assert signals[1].occurred_at == datetime(
            2026, 11, 21, 4, 0, tzinfo=ZoneInfo("America/Chicago")
        )
        assert signals[1].delivery_id == "4711:Fill Out Form:1001:2026-11-21 04:00:00"

    def test_an_activity_id_is_the_natural_key_when_given(self, shipped: IngressConfig) -> None:
        events = self.read(shipped, {"lead_id": 1, "activity": "Visit Web Page", "activity_id": "a-9",
                                     "url": "https://acme.example/pricing"})  # fmt: skip
        signals, _ = mapped(shipped, "marketo", events)
        assert [(s.type, s.delivery_id) for s in signals] == [
            ("pricing_page_view", "1:Visit Web Page:a-9")
        ]

    @pytest.mark.parametrize(
        ("payload", "field"),
        [({"activity": "Fill Out Form"}, "lead_id"), ({"lead_id": "{{lead.Id}}", "activity": "x"}, "lead_id"),
         ({"lead_id": "1"}, "activity"), ([], "body")],
    )  # fmt: skip
    def test_a_template_missing_its_fields_names_them(
        self, shipped: IngressConfig, payload: object, field: str
    ) -> None:
        with pytest.raises(BadPayload) as err:
            self.read(shipped, payload)
        assert err.value.field == field


class TestConfig:
    def test_the_shipped_file_loads_and_disables_sources_without_secrets(self) -> None:
        cfg = load_ingress(REPO / "config" / "ingress.yaml", {})
        assert {n: s.enabled for n, s in cfg.sources.items()} == {
            "standard": False, "hubspot": False, "segment": False, "marketo": False
        }  # fmt: skip
        assert all(s.mapping.rules or s.provider == "standard" for s in cfg.sources.values())

    def write(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "ingress.yaml"
        path.write_text(text)
        return path

    @pytest.mark.parametrize(
        ("text", "env", "line", "key", "message"),
        [
            ("sources:\n  s:\n    provider: standard\n    secrets:\n      - env: S\n",
             {"S": "whsec_%%%"}, 2, "sources.s", "whsec_"),
            ("sources:\n  h:\n    provider: hubspot\n    secrets:\n      - env: A\n      - env: B\n",
             {"A": "a" * 20, "B": "b" * 20}, 2, "sources.h", "two active secrets"),
            ("sources:\n  h:\n    provider: hubspot\n    secrets: [{env: A}, {env: B}, {env: C}]\n",
             {}, 4, "sources.h.secrets", "at most 2"),
            ("sources:\n  h:\n    provider: hubspot\n    mapping:\n      - event: x\n        activity: Page View\n",
             {}, 6, "sources.h.mapping[0].activity", "pattern"),
            ("sources:\n  h:\n    provider: hubspot\n    mapping:\n      - event: x\n        activity: y\n        when: 'url.contains(\"/p\")'\n",
             {}, 7, "sources.h.mapping[0].when", "unknown variable url"),
            ("sources:\n  m:\n    provider: marketo\n    traits: {email: mail}\n",
             {}, 4, "sources.m.traits", "unknown trait"),
            ("sources:\n  m:\n    provider: marketo\n    secrets: [{env: T}]\n",
             {"T": "short"}, 2, "sources.m", "too short"),
        ],
    )  # fmt: skip
    def test_a_mistake_names_file_line_and_key(
        self, tmp_path: Path, text: str, env: dict[str, str], line: int, key: str, message: str
    ) -> None:
        path = self.write(tmp_path, text)
        with pytest.raises(ConfigError) as err:
            load_ingress(path, env)
        assert (err.value.line, err.value.key) == (line, key)
        assert message in err.value.message
        assert all(v not in str(err.value) for v in env.values() if len(v) > 8)

    def test_rotation_takes_the_old_secret_s_expiry_from_the_environment(
        self, tmp_path: Path
    ) -> None:
        path = self.write(
            tmp_path,
            "sources:\n  h:\n    provider: hubspot\n    secrets:\n      - env: NEW\n"
            "      - env: OLD\n        expires_at_env: OLD_EXPIRES\n",
        )
        cfg = load_ingress(
            path, {"NEW": "n" * 20, "OLD": "o" * 20, "OLD_EXPIRES": "2026-11-22T00:00:00Z"}
        )
        ring = cfg.sources["h"].secrets
        assert ring.active(NOW) == [b"n" * 20, b"o" * 20]
        assert ring.active(datetime(2026, 11, 22, tzinfo=UTC)) == [b"n" * 20]
