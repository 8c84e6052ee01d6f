"""One pass of the `[media]` hashing job (see the package docstring)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from modqueue._exceptions import IntegrationError, MediaRefused, ReplyTooLarge
from modqueue.integrations.media import MediaConfig, fetch_media
from modqueue.queue import (
    MediaResult,
    ReviewQueue,
    hash_image,
    media_to_fetch,
    record_media_results,
)

__all__ = ["MediaHashReport", "hash_pending_media"]


@dataclass(slots=True)
class MediaHashReport:
    """What one pass did: images hashed, fetches failed (`errors`: URL and reason)."""

    hashed: int = 0
    failed: int = 0
    clusters: list[int] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """Whether the pass did anything worth logging."""
        return bool(self.hashed or self.failed)

    def summary(self) -> str:
        """One line for the log."""
        return f"{self.hashed} hashed, {self.failed} failed, {len(self.clusters)} clusters touched"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "hashed": self.hashed,
            "failed": self.failed,
            "clusters": self.clusters,
            "errors": [{"url": u, "reason": r} for u, r in self.errors],
        }


def hash_pending_media(
    queue: ReviewQueue,
    config: MediaConfig,
    *,
    limit: int = 50,
    stop: threading.Event | None = None,
    client: httpx.Client | None = None,
) -> MediaHashReport:
    """Fetch, hash and record the images of up to `limit` items waiting for hashes.

    Fetches run outside any transaction; the outcomes are written in one. A refused
    address, a wrong content type or an oversized image is final at once; other
    failures are retried on later passes, up to `MAX_FETCH_ATTEMPTS` in all. No failure
    stops the pass. The bytes are never stored.
    """
    report = MediaHashReport()
    wanted = queue.run(lambda s: media_to_fetch(s, limit=limit))
    results: list[MediaResult] = []
    for one in wanted:
        if stop is not None and stop.is_set():
            break
        try:
            fetched = fetch_media(one.url, config=config, client=client)
        except (MediaRefused, ReplyTooLarge) as exc:
            results.append(MediaResult(one.item_id, one.index, error=str(exc), final=True))
        except IntegrationError as exc:
            results.append(MediaResult(one.item_id, one.index, error=str(exc)))
        else:
            digest, pdq, quality = hash_image(fetched.content)
            del fetched
            results.append(MediaResult(one.item_id, one.index, digest, pdq, quality))
            report.hashed += 1
            continue
        report.failed += 1
        report.errors.append((one.url, results[-1].error or ""))
    if results:
        report.clusters = queue.run(
            lambda s: record_media_results(
                s, results=results, guidelines=queue.guidelines, now=queue.clock()
            )
        )
    return report
