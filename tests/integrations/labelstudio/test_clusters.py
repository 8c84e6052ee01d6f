"""Label Studio and clusters, against a real Label Studio server: the push sends one
member per cluster, and the pulled label applies to the whole cluster."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioTask,
    pull,
    push,
)
from modqueue.queue import ClusterDecision, Decision, ReviewQueue
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import ANNOTATOR, annotate, hate_item

pytestmark = pytest.mark.slow  # a real Label Studio server

COPY = "the same hateful synthetic slogan, copy number {n}"  # digits differ only


def test_one_member_per_cluster_is_pushed_and_its_label_decides_the_cluster(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q = review_queue
    q.enqueue([hate_item(n, text=COPY.format(n=n)) for n in (1, 2, 3)] + [hate_item(4)])
    members = [q.get_item(n) for n in (1, 2, 3)]
    assert members[0].cluster_id is not None
    assert {m.cluster_id for m in members} == {members[0].cluster_id}
    assert q.get_item(4).cluster_id is None
    report = push(q, ls_client, ls_config)
    assert report.pushed == 2  # one of the three copies, and the other item
    tasks = q.run(lambda s: {t.item_id: t for t in s.scalars(select(LabelStudioTask))})
    assert sorted(tasks) == [1, 4]
    # A second push sends no other copy while one is out.
    assert push(q, ls_client, ls_config).pushed == 0
    annotate(ls_server, annotators[ANNOTATOR], tasks[1].task_id or 0, "remove-hate")
    pulled = pull(q, ls_client)
    assert (pulled.decided, pulled.cluster_members) == (1, 2)
    assert [q.get_item(n).final_label for n in (1, 2, 3)] == ["remove-hate"] * 3
    assert q.get_item(4).status == "claimed"  # still Label Studio's
    with q.session() as s:
        (made,) = s.scalars(select(ClusterDecision))
        assert (made.reviewer, made.origin, made.member_count) == (
            f"ls:{ANNOTATOR}",
            "labelstudio",
            2,
        )
        linked = s.scalars(
            select(col(Decision.item_id)).where(col(Decision.cluster_decision_id) == made.id)
        )
        assert sorted(linked) == [2, 3]
