"""Platform replies are bounded: an endless body, a gzip bomb or JSON nested too deeply
fails that one attempt with a clear error; other actions are delivered as usual."""

from __future__ import annotations

from sqlalchemy import select

from modqueue.integrations.actions import dispatch_due
from modqueue.queue import OutboundAction, ReviewQueue
from tests.integrations.actions.conftest import SECRETS, decide_items, platform_config
from tests.integrations.actions.platform_server import PlatformServer


def test_hostile_replies_fail_their_attempt_and_nothing_else(
    review_queue: ReviewQueue, server: PlatformServer
) -> None:
    ids = decide_items(review_queue, ["endless-1", "bomb-1", "deep-1", "done-1"])
    # the product's 1 MiB reply cap; a time-out long enough for a 1 MiB reply here
    cfg = platform_config(server, "alpha", timeout_s=30)
    report = dispatch_due(review_queue, {"alpha": cfg}, env={"ALPHA_SECRET": SECRETS["alpha"]})
    assert (report.done, report.retried, report.failed) == (1, 2, 1)
    rows = review_queue.run(lambda s: {r.id: r for r in s.scalars(select(OutboundAction))})

    too_large = "reply from platform 'alpha': reply body over the 1,048,576-byte limit"
    for name in ("endless-1", "bomb-1"):
        row = rows[ids[name]]
        assert row.status == "pending", name  # retried later, with the same key
        assert row.last_error is not None and too_large in row.last_error
        assert "(max_reply_bytes)" in row.last_error
    deep = rows[ids["deep-1"]]
    assert deep.status == "failed"
    assert deep.last_error is not None
    assert "reply is malformed: not JSON (malformed JSON: nested too deeply)" in deep.last_error
    assert rows[ids["done-1"]].status == "done"
