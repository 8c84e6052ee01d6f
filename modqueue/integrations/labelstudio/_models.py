"""modqueue's record of Label Studio: one project per policy, one task per item sent, and
the annotations the pull refused (to apply once access is fixed)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from modqueue.queue import UTCDateTime, utcnow

__all__ = ["LabelStudioProject", "LabelStudioRefusal", "LabelStudioTask", "TaskState"]


class TaskState(StrEnum):
    """Where an item sent to Label Studio stands.

    * `importing`: leased to Label Studio, import sent; the task id is not known yet.
    * `open`: the task exists and waits for an annotation.
    * `done`: an annotation decided the item.
    * `returned`: an annotator skipped it; the item went back to the moderators.
    * `withdrawn`: decided elsewhere first; the task was deleted from Label Studio.
    """

    IMPORTING = "importing"
    OPEN = "open"
    DONE = "done"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


class LabelStudioProject(SQLModel, table=True):
    """The Label Studio project that holds one policy's tasks."""

    __tablename__ = "labelstudio_project"

    policy: str = Field(primary_key=True, max_length=100)
    project_id: int = Field(unique=True)
    guideline_version: str = Field(max_length=80)
    config_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LabelStudioTask(SQLModel, table=True):
    """One item sent to Label Studio and the task that carries it."""

    __tablename__ = "labelstudio_task"
    __table_args__ = (
        Index("ix_labelstudio_task_state", "state", "project_id"),
        Index("ix_labelstudio_task_task_id", "project_id", "task_id"),
        Index("ix_labelstudio_task_batch", "batch"),
    )

    item_id: int = Field(primary_key=True, foreign_key="item.id")
    project_id: int
    task_id: int | None = None
    batch: str = Field(max_length=32)
    state: str = Field(default=TaskState.IMPORTING, max_length=20)
    pushed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LabelStudioRefusal(SQLModel, table=True):
    """An annotation the pull refused because its annotator may not apply it (no linked
    reviewer, disabled, or missing the role or policy).

    Every pull fetches these tasks again by id, whatever its cursor, and applies the
    annotation once access allows it; the row goes then. `reason` is the refusal last
    audited, so an unchanged refusal is not audited again on every pull.
    """

    __tablename__ = "labelstudio_refusal"
    __table_args__ = (Index("ix_labelstudio_refusal_task", "project_id", "task_id"),)

    annotation_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_id: int = Field(foreign_key="item.id", index=True)
    project_id: int
    task_id: int
    labelstudio_email: str = Field(max_length=254)
    reason: str
    refused_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
