"""`[reports]` in `modqueue.toml`: what the statements of reasons say about each policy
that modqueue cannot know by itself (the law a policy enforces, the DSA category, the
territorial scope).

```toml
[reports]
territorial_scope = ["DE", "FR"]          # EU/EEA country codes; default: left out

[reports.policies.people-smuggling]
ground = "illegal"                        # "terms" (default) or "illegal"
legal_ground = "Immigration Act 1971, s. 25 (assisting unlawful immigration)"
category = "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
reference_url = "https://example.org/terms#smuggling"
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CATEGORIES", "DEFAULT_CATEGORIES", "PolicyGrounds", "ReportsConfig"]

CATEGORIES = frozenset(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    }
)
"""The DSA Transparency Database's statement categories (its `category` values)."""

DEFAULT_CATEGORIES = {
    "doxxing": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "drug-supply": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "hate": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "image-abuse": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "people-smuggling": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "violent-threats": "STATEMENT_CATEGORY_VIOLENCE",
}
"""The category of each bundled policy; any other policy defaults to
`STATEMENT_CATEGORY_OTHER_VIOLATION_TC` unless `[reports.policies.ID] category` says."""

_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IS",
        "IT",
        "LI",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


class PolicyGrounds(BaseModel):
    """`[reports.policies.ID]`: the ground and category of one policy's restrictions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ground: Literal["terms", "illegal"] = "terms"
    legal_ground: str | None = Field(default=None, min_length=1, max_length=500)
    category: str | None = None
    reference_url: str | None = Field(default=None, pattern=r"^https?://", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> PolicyGrounds:
        if self.ground == "illegal" and not self.legal_ground:
            raise ValueError('ground = "illegal" needs legal_ground (the law relied on)')
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(
                f"category {self.category!r} is not a DSA statement category: use one of "
                + ", ".join(sorted(CATEGORIES))
            )
        return self


class ReportsConfig(BaseModel):
    """`[reports]`: territorial scope and per-policy grounds of the statements of reasons."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    territorial_scope: list[str] | None = None
    policies: dict[str, PolicyGrounds] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _countries(self) -> ReportsConfig:
        unknown = sorted(set(self.territorial_scope or ()) - _COUNTRIES)
        if unknown:
            raise ValueError(
                f"territorial_scope: {', '.join(unknown)} are not EU/EEA country codes"
            )
        return self

    def grounds(self, policy: str) -> PolicyGrounds:
        """The grounds of `policy` (the defaults when it is not configured)."""
        return self.policies.get(policy) or PolicyGrounds()

    def category(self, policy: str) -> str:
        """The DSA category of `policy`'s restrictions."""
        configured = self.grounds(policy).category
        return configured or DEFAULT_CATEGORIES.get(policy, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC")
