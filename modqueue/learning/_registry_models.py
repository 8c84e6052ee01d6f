"""The model registry's table: one row per trained model version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from modqueue.queue import UTCDateTime, utcnow

__all__ = ["ModelState", "ModelVersion"]


class ModelState:
    """Where a model version stands: `candidate` (trained, not scoring), `active` (the
    one model of its policy that scores new items) or `retired` (never again)."""

    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


class ModelVersion(SQLModel, table=True):
    """A trained model: its policy, version, artefact folder, card figures and the last
    drift check. At most one version per policy is `active`."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("policy", "version", name="uq_model_version"),)

    id: int | None = Field(default=None, primary_key=True)
    policy: str = Field(max_length=100, index=True)
    version: str = Field(max_length=40)
    state: str = Field(default=ModelState.CANDIDATE, max_length=20)
    path: str = Field(max_length=1000)
    guideline_versions: list[str] = Field(default_factory=list, sa_type=JSON)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    drift: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    trained_by: str = Field(default="cli", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
