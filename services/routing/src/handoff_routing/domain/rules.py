"""Routing rules, tried in order: account ownership, conditions on lead traits, a default pool.

A rule's condition is a CEL expression (as in scoring), compiled when the config is loaded;
here it is only a predicate over the lead's facts, so the domain stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ACCOUNT = "account"
CONDITION = "condition"

# The variables a rule condition may name (docs/routing.md lists them with examples).
VARIABLES = (
    "country",
    "region",
    "prefecture",
    "company_size",
    "size_band",
    "industry",
    "source",
    "trigger",
    "fit_grade",
    "score",
    "email_domain",
    "company_domain",
    "title",
)

SIZE_BANDS = ((1, 49, "1-49"), (50, 249, "50-249"), (250, 999, "250-999"), (1000, None, "1000+"))


class Predicate(Protocol):
    def holds(self, context: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """One routing rule. An account rule names a fallback pool; a condition rule, its pool."""

    name: str
    kind: str  # ACCOUNT or CONDITION
    pool: str | None = None  # condition rules: where matching leads go
    fallback_pool: str | None = None  # account rules: when the owner cannot take the lead
    condition: Predicate | None = None
    respect_hours: bool = False  # skip reps outside their working hours


def size_band(size: int | None) -> str | None:
    if size is None:
        return None
    for low, high, name in SIZE_BANDS:
        if size >= low and (high is None or size <= high):
            return name
    return None


def normalize_domain(raw: str | None) -> str | None:
    """`https://WWW.Acme.co.jp/about` and `acme.co.jp.` both become `acme.co.jp`."""
    if not raw:
        return None
    value = raw.strip().lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0].split(":", 1)[0].strip(".")
    if value.startswith("www."):
        value = value[4:]
    return value or None


def domain_candidates(domain: str) -> list[str]:
    """The domain and its parents, most specific first: tokyo.sales.acme.co.jp -> ... acme.co.jp.

    Stops at two labels; accounts are never registered at a public suffix such as co.jp,
    so trying it matches nothing.
    """
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What routing knows about the lead, from the MQL and its traits."""

    email_domain: str | None = None
    company_domain: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # the condition variables known

    @classmethod
    def of(
        cls,
        *,
        email: str | None = None,
        company_domain: str | None = None,
        country: str | None = None,
        region: str | None = None,
        company_size: int | None = None,
        industry: str | None = None,
        source: str | None = None,
        trigger: str | None = None,
        fit_grade: str | None = None,
        score: int | None = None,
        title: str | None = None,
    ) -> LeadFacts:
        email_domain = normalize_domain(email) if email and "@" in email else None
        company = normalize_domain(company_domain)
        values: dict[str, Any] = {
            "country": country.upper() if country else None,
            "region": region,
            "prefecture": region,
            "company_size": company_size,
            "size_band": size_band(company_size),
            "industry": industry,
            "source": source,
            "trigger": trigger,
            "fit_grade": fit_grade,
            "score": score,
            "email_domain": email_domain,
            "company_domain": company,
            "title": title,
        }
        # An unknown trait is left out, so a rule about it does not match (rather than
        # matching "" or 0 by accident).
        return cls(email_domain, company, {k: v for k, v in values.items() if v is not None})

    def domains(self) -> list[str]:
        seen: list[str] = []
        for d in (self.email_domain, self.company_domain):
            if d:
                for c in domain_candidates(d):
                    if c not in seen:
                        seen.append(c)
        return seen
