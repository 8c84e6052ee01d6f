"""`modqueue clusters`, end to end on both backends (membership seeded until ingest
assigns clusters)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.queue import Item, OutboundAction, ReviewQueue
from tests.conftest import make_item
from tests.support.clusters import seed_cluster

runner = CliRunner()
REMOVE = "remove-fake-documents"


def _seed(url: str, ns: list[int], **overrides: object) -> tuple[int, list[int]]:
    with ReviewQueue(url) as q:
        q.enqueue([make_item(n, author={"handle": f"@seller{n % 2}"}, **overrides) for n in ns])
        with q.session() as s:
            ids = [
                int(v or 0)
                for v in s.scalars(
                    select(col(Item.id))
                    .where(col(Item.external_id).in_([f"post-{n}" for n in ns]))
                    .order_by(col(Item.id))
                )
            ]
        return seed_cluster(q, ids), ids


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["clusters", *args, "--db", url])
    return result.exit_code, result.stdout, result.stderr


def test_list_show_decide_with_exclude_and_undo(database_url: str) -> None:
    url = database_url
    cluster_id, ids = _seed(url, [1, 2, 3, 4])
    code, out, err = _run(url, "list", "--json", "--reviewer", "alice")
    assert code == 0, err
    (listed,) = json.loads(out)
    assert listed["id"] == cluster_id and listed["members"] == 4 and listed["open"] == 4
    assert listed["reach"] == 400  # four members of 100 views each
    code, out, err = _run(url, "show", str(cluster_id), "--reviewer", "alice")
    assert code == 0, err
    assert f"cluster {cluster_id} (people-smuggling, open): 4 members, 4 open, reach 400" in out
    assert "authors: @seller0, @seller1" in out
    code, out, err = _run(
        url,
        "decide",
        str(cluster_id),
        "--label",
        REMOVE,
        "--exclude",
        str(ids[3]),
        "--dry-run",
        "--reviewer",
        "alice",
    )
    assert code == 0, err
    assert f"cluster {cluster_id}: would apply 'remove_and_ban' to 3 items; 1 excluded" in out
    code, out, err = _run(
        url,
        "decide",
        str(cluster_id),
        "--label",
        REMOVE,
        "--exclude",
        str(ids[3]),
        "--reviewer",
        "alice",
        "--json",
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["member_count"] == 3 and made["excluded"] == [ids[3]]
    with ReviewQueue(url) as q:
        assert q.get_item(ids[3]).status == "pending"
        assert [q.get_item(i).status for i in ids[:3]] == ["decided"] * 3
    code, out, err = _run(url, "undo", str(made["id"]), "--reviewer", "alice")
    assert code == 0, err
    assert f"cluster decision {made['id']} undone: 3 item(s) pending again" in out
    code, out, err = _run(url, "undo", str(made["id"]), "--reviewer", "alice")
    assert code == 1
    assert f"error: cluster {cluster_id}: decision {made['id']} is already undone" in err


def test_clear_errors_name_the_cluster(database_url: str) -> None:
    url = database_url
    cluster_id, _ = _seed(url, [1, 2])
    code, _, err = _run(url, "decide", "999", "--label", REMOVE, "--reviewer", "alice")
    assert code == 1 and "error: cluster 999 does not exist" in err
    code, _, err = _run(
        url,
        "decide",
        str(cluster_id),
        "--label",
        REMOVE,
        "--exclude",
        "777",
        "--reviewer",
        "alice",
    )
    assert code == 1 and f"error: cluster {cluster_id}: item 777 is not a member" in err
    code, _, err = _run(url, "decide", str(cluster_id), "--label", "nope", "--reviewer", "alice")
    assert code == 1
    assert f"error: cluster {cluster_id}: guideline 'people-smuggling' has no label 'nope'" in err
    code, _, err = _run(url, "reverse", "5", "--note", " ", "--reviewer", "sam")
    assert code == 1 and "error: a reversal needs --note saying why" in err
    code, _, err = _run(url, "split", "999", "--reviewer", "alice")
    assert code == 1 and "error: item 999 does not exist" in err


def test_reverse_and_split(database_url: str) -> None:
    url = database_url
    cluster_id, ids = _seed(url, [1, 2, 3])
    code, out, err = _run(url, "split", str(ids[0]), "--reviewer", "alice")
    assert code == 0, err
    assert f"item {ids[0]} left cluster {cluster_id}" in out
    code, out, err = _run(
        url, "decide", str(cluster_id), "--label", REMOVE, "--reviewer", "alice", "--json"
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["member_count"] == 2
    code, out, err = _run(
        url, "reverse", str(made["id"]), "--note", "not copies", "--reviewer", "sam"
    )
    assert code == 0, err
    assert f"cluster decision {made['id']} reversed: 2 item(s) pending again" in out
    with ReviewQueue(url) as q, q.session() as s:
        statuses = {a.status for a in s.scalars(select(OutboundAction))}
    assert statuses == {"cancelled"}  # never sent: cancelled, nothing to reverse
