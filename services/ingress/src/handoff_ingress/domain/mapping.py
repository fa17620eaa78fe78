"""A source's mapping from its event names to handoff's activity types; unmapped events are counted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handoff.expressions import Condition
from handoff_ingress.domain.provider_events import MappedSignal, ProviderEvent

# The names a `when` condition may use.
VARIABLES = ("event", "properties", "traits")


@dataclass(frozen=True, slots=True)
class Rule:
    """`event` (the provider's name) maps to `activity` when `when` holds (or always, without it)."""

    event: str
    activity: str
    when: Condition | None = None


@dataclass(frozen=True)
class SourceMapping:
    rules: Sequence[Rule] = ()
    _by_event: dict[str, list[Rule]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for rule in self.rules:
            self._by_event.setdefault(rule.event, []).append(rule)

    def activity_for(self, event: ProviderEvent) -> str | None:
        """The first matching rule's activity type, in file order; None when unmapped."""
        candidates = self._by_event.get(event.name)
        if not candidates:
            return None
        context: dict[str, Any] | None = None
        for rule in candidates:
            if rule.when is None:
                return rule.activity
            if context is None:
                context = {
                    "event": event.name,
                    "properties": event.properties,
                    "traits": event.traits or {},
                }
            if rule.when.holds(context):
                return rule.activity
        return None


@dataclass(frozen=True, slots=True)
class MappingResult:
    signals: list[MappedSignal]
    unmapped: list[str]  # provider event names that matched no rule


def map_events(
    mapping: SourceMapping, events: Iterable[ProviderEvent], source_name: str
) -> MappingResult:
    """Identify and alias pass through; activities take their handoff name from the mapping."""
    signals: list[MappedSignal] = []
    unmapped: list[str] = []
    for ev in events:
        if ev.kind == "activity":
            activity = mapping.activity_for(ev)
            if activity is None:
                unmapped.append(ev.name)
                continue
            kind = activity
        else:
            kind = ev.kind
        signals.append(
            MappedSignal(
                event_key=ev.key,
                delivery_id=ev.delivery_id,
                lead_id=ev.lead_id,
                type=kind,
                occurred_at=ev.occurred_at,
                source=source_name,
                properties=ev.properties,
                traits=ev.traits,
                previous_id=ev.previous_id,
            )
        )
    return MappingResult(signals, unmapped)


def nested_traits(flat: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Provider properties to handoff traits through a name map; "company.size" nests.
    Company size arrives as text ("250", "201-500"); the first number is kept."""
    traits: dict[str, Any] = {}
    for prop, value in flat.items():
        target = names.get(prop)
        if target is None or value is None or value == "":
            continue
        if target == "company.size":
            value = first_number(value)
            if value is None:
                continue
        head, _, rest = target.partition(".")
        if rest:
            traits.setdefault(head, {})[rest] = value
        else:
            traits[head] = value
    return traits


def first_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value >= 0 else None
    digits = ""
    for ch in str(value):
        if ch.isdigit():
            digits += ch
        elif digits and ch in ",_":
            continue
        elif digits:
            break
    return int(digits) if digits and len(digits) < 10 else None
