"""The `[media]` hashing job: images of items that arrived without hashes are fetched
with the safe fetcher (`modqueue.integrations.media`), hashed in memory (SHA-256 and
PDQ) and dropped; the hashes (or the fetch error) go on the item's media entry and the
item is fingerprinted again, so copies of one image cluster.

- `hash_pending_media(queue, config)`: one pass over up to `limit` waiting items.
"""

from modqueue.integrations.media_hashes._job import MediaHashReport, hash_pending_media

__all__ = ["MediaHashReport", "hash_pending_media"]
