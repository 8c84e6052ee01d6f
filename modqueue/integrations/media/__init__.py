"""Media from item URLs, fetched safely: the one fetcher behind image hashing (the
`[media]` job in `serve`) and images on the review screen.

- `fetch_media(url, config=MediaConfig())` returns a `FetchedMedia`: the bytes in
  memory (never written to disk), the checked content type and the SHA-256.
- Only public addresses are reached unless `[media]` says otherwise (`resolve_target`,
  `is_public_address`); each redirect hop is checked again; the connection goes to the
  address that was checked.
- Size and time limits cover the whole exchange; the declared content type must be an
  allowed image type and must match the bytes (`sniff_image_type`).

Errors: `MediaRefused`, `ReplyTooLarge`, `ReplyTooSlow` (all `IntegrationError`).
"""

from modqueue._sections.media import MediaConfig
from modqueue.integrations.media._address import Target, is_public_address, resolve_target
from modqueue.integrations.media._fetch import FetchedMedia, fetch_media, sniff_image_type

__all__ = [
    "FetchedMedia",
    "MediaConfig",
    "Target",
    "fetch_media",
    "is_public_address",
    "resolve_target",
    "sniff_image_type",
]
