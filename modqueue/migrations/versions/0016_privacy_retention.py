"""Privacy and retention: personal data out of the chained audit payloads.

Adds `audit_personal` (an event's personal fields, keyed by its id), `audit_seal` (the
hash of a rewritten legacy event) and `item.reporter_purged_at` / `item.content_purged_at`
(when retention or an erasure removed them).

Existing events whose `before`, `after` or `detail` hold personal fields (item text,
URLs, media, author and reporter data, notes) are rewritten the way new events are
written: each value moves to `audit_personal` and a salted digest takes its place. Their
chained `hash` and every `prev_hash` stay as they were, so the chains and any anchors
written down earlier still hold; the hash of the rewritten contents is kept in
`audit_seal`, and one new chained event, `audit_sealed`, records the digest of all seals,
so a later edit of a rewritten event or of a seal is still detected by `audit verify`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016_privacy_retention"
down_revision: str | Sequence[str] | None = "0015_reports_referrals"

# Inlined (migrations do not import the application): the hash-chain and personal-field
# rules as they are when this revision is written.
GENESIS_HASH = "0" * 64
PERSONAL_KEYS = frozenset(
    {"text", "url", "media", "reporter", "author_id", "author_handle", "note"}
)
PARTS = ("before", "after", "detail")
BATCH = 2000

_AUDIT = sa.table(
    "audit_event",
    sa.column("id", sa.Integer()),
    sa.column("chain", sa.SmallInteger()),
    sa.column("at", sa.DateTime()),  # naive UTC, as stored
    sa.column("actor", sa.String()),
    sa.column("event", sa.String()),
    sa.column("item_id", sa.Integer()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_value(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _event_hash(row: dict[str, Any], prev_hash: str) -> str:
    doc = {
        "id": row["id"],
        "at": _iso(row["at"]),
        "actor": row["actor"],
        "event": row["event"],
        "item_id": row["item_id"],
        "before": _json_value(row["before"]),
        "after": _json_value(row["after"]),
        "detail": _json_value(row["detail"]),
        "prev_hash": prev_hash,
    }
    if row["chain"]:
        doc["chain"] = row["chain"]
    return hashlib.sha256(_canonical(doc)).hexdigest()


def _digest(nonce: str, path: str, value: Any) -> str:
    return hashlib.sha256(
        nonce.encode() + b"\0" + path.encode() + b"\0" + _canonical(value)
    ).hexdigest()


def _split(row: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    nonce = secrets.token_hex(16)
    moved: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    for part in PARTS:
        values = row[part]
        if not isinstance(values, dict) or not (PERSONAL_KEYS & values.keys()):
            continue
        kept = {}
        for key, value in values.items():
            if key in PERSONAL_KEYS and value is not None:
                path = f"{part}.{key}"
                moved[path] = value
                kept[key] = {"personal": _digest(nonce, path, value)}
            else:
                kept[key] = value
        parts[part] = kept
    return parts, nonce, moved


def _sqlite_triggers(create: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    if not create:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        return
    op.execute(
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
    )


def _seal_existing() -> None:
    conn = op.get_bind()
    personal = sa.table(
        "audit_personal",
        sa.column("event_id", sa.Integer()),
        sa.column("item_id", sa.Integer()),
        sa.column("nonce", sa.String()),
        sa.column("data", sa.JSON()),
    )
    seal = sa.table(
        "audit_seal", sa.column("event_id", sa.Integer()), sa.column("sealed_hash", sa.String())
    )
    seals: list[tuple[int, str]] = []
    after = 0
    while True:
        rows = (
            conn.execute(
                sa.select(_AUDIT).where(_AUDIT.c.id > after).order_by(_AUDIT.c.id).limit(BATCH)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        after = rows[-1]["id"]
        for row in rows:
            parts, nonce, moved = _split(dict(row))
            if not moved or row["hash"] is None or row["prev_hash"] is None:
                continue
            rewritten = {**row, **parts}
            sealed = _event_hash(rewritten, row["prev_hash"])
            conn.execute(sa.update(_AUDIT).where(_AUDIT.c.id == row["id"]).values(**parts))
            conn.execute(
                sa.insert(personal).values(
                    event_id=row["id"], item_id=row["item_id"], nonce=nonce, data=moved
                )
            )
            conn.execute(sa.insert(seal).values(event_id=row["id"], sealed_hash=sealed))
            seals.append((row["id"], sealed))
    if not seals:
        return
    # Anchor the seals in chain 0 (the chain every event written before chains existed is on).
    head = conn.execute(
        sa.select(_AUDIT.c.id, _AUDIT.c.hash)
        .where(_AUDIT.c.chain == 0)
        .order_by(_AUDIT.c.id.desc())
        .limit(1)
    ).one_or_none()
    prev = head[1] if head is not None and head[1] else GENESIS_HASH
    new_id = (conn.execute(sa.select(sa.func.max(_AUDIT.c.id))).scalar() or 0) + 1
    if conn.dialect.name == "postgresql":
        taken = conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('audit_event', 'id'))")
        ).scalar_one()
        if taken < new_id:  # keep the sequence past every id, the new one included
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), :v)"),
                {"v": new_id},
            )
        new_id = max(new_id, int(taken))
    lines = "".join(f"{i}:{h}\n" for i, h in sorted(seals))
    event = {
        "id": int(new_id),
        "chain": 0,
        "at": datetime.now(UTC).replace(tzinfo=None),
        "actor": "modqueue",
        "event": "audit_sealed",
        "item_id": None,
        "before": None,
        "after": None,
        "detail": {
            "count": len(seals),
            "seals": hashlib.sha256(lines.encode()).hexdigest(),
            "migration": revision,
        },
    }
    conn.execute(sa.insert(_AUDIT).values(**event, prev_hash=prev, hash=_event_hash(event, prev)))


def upgrade() -> None:
    """Create the side tables and purge marks; move personal data out of old events."""
    op.create_table(
        "audit_personal",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_audit_personal_item_id", "audit_personal", ["item_id"], unique=False)
    op.create_table(
        "audit_seal",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.add_column("item", sa.Column("reporter_purged_at", sa.DateTime(), nullable=True))
    op.add_column("item", sa.Column("content_purged_at", sa.DateTime(), nullable=True))
    _sqlite_triggers(create=False)
    _seal_existing()
    _sqlite_triggers(create=True)


def downgrade() -> None:
    """Put the personal fields still stored back into sealed events; drop the rest.
    Fields already erased cannot come back: those events then no longer verify."""
    conn = op.get_bind()
    _sqlite_triggers(create=False)
    rows = conn.execute(
        sa.text(
            "SELECT p.event_id, p.data FROM audit_personal p "
            "JOIN audit_seal s ON s.event_id = p.event_id"
        )
    ).all()
    for event_id, data in rows:
        data = json.loads(data) if isinstance(data, str) else data
        current = conn.execute(sa.select(_AUDIT).where(_AUDIT.c.id == event_id)).mappings().one()
        values = {}
        for part in PARTS:
            if isinstance(current[part], dict):
                restored = dict(current[part])
                for key in list(restored):
                    if f"{part}.{key}" in data:
                        restored[key] = data[f"{part}.{key}"]
                values[part] = restored
        conn.execute(sa.update(_AUDIT).where(_AUDIT.c.id == event_id).values(**values))
    _sqlite_triggers(create=True)
    with op.batch_alter_table("item") as batch_op:
        batch_op.drop_column("content_purged_at")
        batch_op.drop_column("reporter_purged_at")
    op.drop_table("audit_seal")
    op.drop_index("ix_audit_personal_item_id", table_name="audit_personal")
    op.drop_table("audit_personal")
