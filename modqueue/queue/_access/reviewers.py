"""Reviewer management and token authentication (service functions).

A token is 32 random bytes (`mq_` + URL-safe base64), shown once when it is created and
stored only as `sha256$<salt>$<hmac>`: HMAC-SHA256 keyed with a per-reviewer random salt
and, when `MODQUEUE_TOKEN_PEPPER` is set, a pepper kept out of the database. A slow hash
(scrypt, bcrypt) protects guessable passwords; a 256-bit random token cannot be guessed,
so one fast keyed hash is enough and keeps every CLI call quick.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import ConfigError, InvalidState, NotFound, PermissionDenied
from modqueue.queue._access.models import ALL_POLICIES, Reviewer, ReviewerPublic, Role
from modqueue.queue._access.pseudonyms import pseudonym_for, pseudonyms_for
from modqueue.queue._access.rules import (
    Permission,
    authorize_actor,
    find_reviewer,
    is_open_mode,
    refuse,
)
from modqueue.queue._audit.chain import record_event

__all__ = [
    "NewToken",
    "add_reviewer",
    "authenticate",
    "authenticate_os_user",
    "disable_reviewer",
    "grant_reviewer",
    "hash_token",
    "link_reviewer",
    "list_reviewers",
    "normalize_email",
    "reset_token",
    "reviewer_for_labelstudio",
    "token_matches",
]

TOKEN_PREFIX = "mq_"  # noqa: S105 - a prefix, not a secret
PEPPER_ENV = "MODQUEUE_TOKEN_PEPPER"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")
_POLICY = re.compile(r"^(\*|[a-z0-9][a-z0-9-]{0,99})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True, slots=True)
class NewToken:
    """A reviewer and their fresh token; the token is shown once and never stored."""

    reviewer: ReviewerPublic
    token: str = field(repr=False)


def _pepper() -> bytes:
    return os.environ.get(PEPPER_ENV, "").encode()


def hash_token(token: str, *, salt: bytes | None = None) -> str:
    """`sha256$<salt hex>$<HMAC-SHA256(salt + pepper, token) hex>`."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hmac.new(salt + _pepper(), token.encode(), hashlib.sha256).hexdigest()
    return f"sha256${salt.hex()}${digest}"


def token_matches(token: str, stored: str) -> bool:
    """True when `token` hashes to `stored` (constant-time comparison)."""
    try:
        scheme, salt_hex, _ = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(hash_token(token, salt=salt), stored)


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _public(session: Session, row: Reviewer) -> ReviewerPublic:
    return ReviewerPublic.model_validate(
        {**row.model_dump(exclude={"token_hash"}), "pseudonym": pseudonym_for(session, row)}
    )


def _check_policies(policies: Iterable[str], known: Iterable[str] | None) -> list[str]:
    out = []
    known_set = set(known) if known is not None else None
    for p in policies:
        p = p.strip()
        if not _POLICY.match(p):
            raise ConfigError(f"policy {p!r}: use a policy id such as people-smuggling, or *")
        if known_set is not None and p != ALL_POLICIES and p not in known_set:
            raise ConfigError(
                f"policy {p!r} is not a known guideline (known: {', '.join(sorted(known_set))})"
            )
        if p not in out:
            out.append(p)
    return out


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ConfigError(
            f"role {value!r}: use one of {', '.join(r.value for r in Role)}"
        ) from None


def normalize_email(value: str) -> str:
    """`value` as stored and compared: trimmed and in lower case. Raises `ConfigError`
    for something that is not an e-mail address."""
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise ConfigError(
            f"Label Studio e-mail {value!r}: use the address the annotator logs in with, "
            "such as annotator@example.org (at most 254 characters)"
        )
    return email


def reviewer_for_labelstudio(session: Session, email: str) -> Reviewer | None:
    """The reviewer linked to the Label Studio account `email` (any case), if any."""
    return session.scalars(
        select(Reviewer).where(col(Reviewer.labelstudio_email) == email.strip().lower())
    ).one_or_none()


def _free_email(session: Session, email: str, name: str) -> None:
    owner = reviewer_for_labelstudio(session, email)
    if owner is not None and owner.name != name:
        raise InvalidState(
            f"the Label Studio account {email!r} is already linked to reviewer "
            f"{owner.name!r}; unlink it first with "
            f"`modqueue reviewers link {owner.name} --unlink`"
        )


def _get(session: Session, name: str) -> Reviewer:
    row = find_reviewer(session, name)
    if row is None:
        raise NotFound(f"reviewer {name!r} does not exist")
    return row


def _active_admins(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(col(Reviewer.name)).where(
                col(Reviewer.role) == Role.ADMIN, col(Reviewer.disabled).is_(False)
            )
        )
    )


def _manager(
    session: Session,
    actor: str | None,
    now: datetime,
    permission: Permission = Permission.MANAGE_REVIEWERS,
) -> str:
    """The acting admin (a lead or admin to list), verified by the entry point; a
    refusal, also of nobody named, is audited."""
    doing, who = (
        ("managing reviewers", "ADMIN")
        if permission == Permission.MANAGE_REVIEWERS
        else ("listing reviewers", "LEAD")
    )
    return authorize_actor(
        session,
        actor=actor,
        permission=permission,
        doing=doing,
        how=f"pass --reviewer {who} (with --token)",
        now=now,
    )


def add_reviewer(
    session: Session,
    *,
    actor: str | None,
    name: str,
    role: str = Role.REVIEWER,
    policies: Sequence[str] = (),
    known_policies: Iterable[str] | None = None,
    labelstudio_email: str | None = None,
    now: datetime,
) -> NewToken:
    """Register reviewer `name` with `role` and `policies`; returns them and their token.

    Needs an admin `actor`, except for the very first reviewer, which must itself be an
    admin (adding it ends open mode). Leads and admins get every policy (`*`) unless
    `policies` says otherwise. `labelstudio_email` links them to their Label Studio
    account (see `link_reviewer`).
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"reviewer name {name!r}: use letters, digits and . _ @ + - (at most 200)"
        )
    chosen = _role(role)
    granted = _check_policies(policies, known_policies)
    email = normalize_email(labelstudio_email) if labelstudio_email is not None else None
    if not granted and chosen.rank >= Role.LEAD.rank:
        granted = [ALL_POLICIES]
    if is_open_mode(session):
        if chosen != Role.ADMIN:
            raise InvalidState(
                "the first reviewer must be an admin, because adding it starts enforcement: "
                f"`modqueue reviewers add {name} --role admin`"
            )
        actor = actor or name
    else:
        actor = _manager(session, actor, now)
    if find_reviewer(session, name) is not None:
        raise InvalidState(f"reviewer {name!r} already exists")
    if email is not None:
        _free_email(session, email, name)
    token = _new_token()
    row = Reviewer(
        name=name,
        role=chosen.value,
        policies=granted,
        labelstudio_email=email,
        token_hash=hash_token(token),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    public = _public(session, row)
    after: dict[str, object] = {
        "name": name,
        "role": chosen.value,
        "policies": granted,
        "disabled": False,
    }
    if email is not None:
        after["labelstudio_email"] = email
    record_event(session, actor=actor, event="reviewer_added", at=now, after=after)
    return NewToken(reviewer=public, token=token)


def list_reviewers(session: Session, *, actor: str | None, now: datetime) -> list[ReviewerPublic]:
    """Every reviewer with role, policies and pseudonym (leads and admins only)."""
    _manager(session, actor, now, Permission.VIEW_REVIEWER_FIGURES)
    rows = list(session.scalars(select(Reviewer).order_by(col(Reviewer.name))))
    names = pseudonyms_for(session, [r.name for r in rows])
    return [
        ReviewerPublic.model_validate(
            {**r.model_dump(exclude={"token_hash"}), "pseudonym": names[r.name]}
        )
        for r in rows
    ]


def _snapshot(row: Reviewer) -> dict[str, object]:
    return {"role": row.role, "policies": list(row.policies), "disabled": row.disabled}


def disable_reviewer(
    session: Session, *, actor: str | None, name: str, now: datetime, enable: bool = False
) -> ReviewerPublic:
    """Disable (or, with `enable=True`, re-enable) reviewer `name`; admins only.

    The last enabled admin cannot be disabled, so nobody is locked out.
    """
    actor = _manager(session, actor, now)
    row = _get(session, name)
    if not enable and row.role == Role.ADMIN and _active_admins(session) == [name]:
        raise InvalidState(f"{name!r} is the last enabled admin; add another admin first")
    before = _snapshot(row)
    row.disabled = not enable
    row.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="reviewer_enabled" if enable else "reviewer_disabled",
        at=now,
        before={"name": name, **before},
        after={"name": name, **_snapshot(row)},
    )
    return _public(session, row)


def grant_reviewer(
    session: Session,
    *,
    actor: str | None,
    name: str,
    policies: Sequence[str] = (),
    revoke: Sequence[str] = (),
    role: str | None = None,
    known_policies: Iterable[str] | None = None,
    now: datetime,
) -> ReviewerPublic:
    """Grant `policies`, revoke `revoke` and/or change the role of `name`; admins only."""
    actor = _manager(session, actor, now)
    row = _get(session, name)
    added = _check_policies(policies, known_policies)
    removed = set(_check_policies(revoke, None))
    new_role = _role(role) if role is not None else Role(row.role)
    if (
        row.role == Role.ADMIN
        and new_role != Role.ADMIN
        and not row.disabled
        and _active_admins(session) == [name]
    ):
        raise InvalidState(f"{name!r} is the last enabled admin; add another admin first")
    before = _snapshot(row)
    current = [p for p in row.policies if p not in removed]
    row.policies = current + [p for p in added if p not in current]
    row.role = new_role.value
    row.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="reviewer_granted",
        at=now,
        before={"name": name, **before},
        after={"name": name, **_snapshot(row)},
    )
    return _public(session, row)


def link_reviewer(
    session: Session,
    *,
    actor: str | None,
    name: str,
    labelstudio_email: str | None,
    now: datetime,
) -> ReviewerPublic:
    """Link reviewer `name` to the Label Studio account `labelstudio_email`, or unlink
    them with None; admins only.

    Addresses are compared without regard to case, and one account maps to at most one
    reviewer: a clash names the reviewer already linked. Annotations pulled from Label
    Studio then count as `name`'s decisions, checked against their role and policies.
    """
    actor = _manager(session, actor, now)
    row = _get(session, name)
    email = normalize_email(labelstudio_email) if labelstudio_email is not None else None
    if email is not None:
        _free_email(session, email, name)
    before = row.labelstudio_email
    row.labelstudio_email = email
    row.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="reviewer_linked" if email is not None else "reviewer_unlinked",
        at=now,
        before={"name": name, "labelstudio_email": before},
        after={"name": name, "labelstudio_email": email},
    )
    return _public(session, row)


def reset_token(session: Session, *, actor: str | None, name: str, now: datetime) -> NewToken:
    """Replace `name`'s token (the old one stops working); admins only."""
    actor = _manager(session, actor, now)
    row = _get(session, name)
    token = _new_token()
    row.token_hash = hash_token(token)
    row.updated_at = now
    session.flush()
    record_event(session, actor=actor, event="token_reset", at=now, after={"name": name})
    return NewToken(reviewer=_public(session, row), token=token)


def authenticate(session: Session, *, name: str, token: str | None, now: datetime) -> str:
    """Check `name`'s token; returns the name. In open mode every name passes.

    A missing, wrong or disabled identity raises `PermissionDenied` and is audited as
    `authentication_failed` (the token itself is never recorded).
    """
    if is_open_mode(session):
        return name
    row = find_reviewer(session, name)
    detail = {"method": "token"}

    def fail(message: str) -> PermissionDenied:
        return refuse(
            session,
            message,
            actor=name,
            event_name="authentication_failed",
            detail=detail,
            now=now,
        )

    if row is None:
        raise fail(f"reviewer {name!r} is not registered")
    if row.disabled:
        raise fail(f"reviewer {name!r} is disabled")
    if not token:
        raise fail(f"reviewer {name!r} needs a token: pass --token or set MODQUEUE_TOKEN")
    if not token_matches(token, row.token_hash):
        raise fail(f"the token given for reviewer {name!r} is not valid")
    return name


def authenticate_os_user(session: Session, *, name: str | None, os_user: str, now: datetime) -> str:
    """Trust the operating-system user (`[auth] mode = "os"`): `name`, when given, must be
    `os_user`; the reviewer must exist and be enabled (unless in open mode)."""
    claimed = name or os_user
    if is_open_mode(session):
        return claimed
    detail = {"method": "os", "os_user": os_user}
    if claimed != os_user:
        raise refuse(
            session,
            f"reviewer {claimed!r} does not match the operating-system user {os_user!r} "
            '([auth] mode = "os")',
            actor=claimed,
            event_name="authentication_failed",
            detail=detail,
            now=now,
        )
    row = find_reviewer(session, claimed)
    if row is None or row.disabled:
        state = "is not registered" if row is None else "is disabled"
        raise refuse(
            session,
            f"reviewer {claimed!r} {state}",
            actor=claimed,
            event_name="authentication_failed",
            detail=detail,
            now=now,
        )
    return claimed
