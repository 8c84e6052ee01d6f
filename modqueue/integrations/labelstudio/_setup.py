"""`modqueue labelstudio setup`: one Label Studio project per guideline, kept in step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from modqueue._fields import fields_dict
from modqueue.integrations.labelstudio._client import LabelStudioClient
from modqueue.integrations.labelstudio._labeling import (
    config_hash,
    instructions_html,
    labeling_config,
)
from modqueue.integrations.labelstudio._models import LabelStudioProject
from modqueue.queue import ReviewQueue, record_event

__all__ = ["SetupResult", "project_for", "project_title", "setup_project"]

ACTOR = "labelstudio"


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What `setup_project` did: the project, and whether it was created or updated."""

    policy: str
    project_id: int
    guideline_version: str
    created: bool
    updated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self)


def project_title(policy: str, prefix: str = "modqueue") -> str:
    """The title modqueue gives the project of `policy` (also how it finds it again)."""
    return f"{prefix}: {policy}"


def project_for(session: Session, policy: str) -> LabelStudioProject | None:
    """The recorded project of `policy`, if any."""
    return session.get(LabelStudioProject, policy)


def setup_project(
    queue: ReviewQueue,
    client: LabelStudioClient,
    *,
    policy: str,
    force: bool = False,
    prefix: str = "modqueue",
) -> SetupResult:
    """Create or update the Label Studio project of guideline `policy`.

    The labeling config and instructions are regenerated from the guideline; an existing
    project is updated in place (its tasks and annotations stay), and only when they
    changed (or with `force`). A project recorded in the database but deleted in Label
    Studio is created again; one with modqueue's title but not recorded is adopted.
    """
    guideline = queue.guidelines.get(policy)
    config = labeling_config(guideline)
    instructions = instructions_html(guideline)
    fingerprint = config_hash(config, instructions)
    fields: dict[str, Any] = {
        "title": project_title(policy, prefix),
        "description": f"{guideline.title} (guideline {guideline.id} {guideline.version})",
        "label_config": config,
        "expert_instruction": instructions,
        "show_instruction": True,
        "show_skip_button": True,
        "enable_empty_annotation": False,
    }
    recorded = queue.run(lambda s: project_for(s, policy))
    project_id: int | None = None
    if recorded is not None and client.get_project(recorded.project_id) is not None:
        project_id = recorded.project_id
    created = updated = False
    if project_id is None:
        project_id = client.find_project(project_title(policy, prefix))
        if project_id is None:
            project_id = client.create_project(**fields)
            created = True
        else:
            client.update_project(project_id, **fields)
            updated = True
    elif force or recorded is None or recorded.config_hash != fingerprint:
        client.update_project(project_id, **fields)
        updated = True

    def record(session: Session) -> None:
        now = queue.clock()
        row = session.get(LabelStudioProject, policy)
        before = None
        if row is None:
            row = LabelStudioProject(
                policy=policy,
                project_id=project_id,
                guideline_version=guideline.version,
                config_hash=fingerprint,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        else:
            before = {"project_id": row.project_id, "guideline_version": row.guideline_version}
            row.project_id = project_id
            row.guideline_version = guideline.version
            row.config_hash = fingerprint
            row.updated_at = now
        session.flush()
        if created or updated or before is None:
            record_event(
                session,
                actor=ACTOR,
                event="labelstudio_project_" + ("created" if created else "updated"),
                at=now,
                before=before,
                after={"project_id": project_id, "guideline_version": guideline.version},
                detail={"policy": policy},
            )

    queue.run(record)
    return SetupResult(policy, project_id, guideline.version, created, updated)
