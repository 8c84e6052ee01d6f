"""A thin wrapper over label-studio-sdk 2.x: retries with backoff, clear errors.

Every reply is bounded: the SDK is given an `httpx.Client` whose transport reads each
reply within `max_response_bytes` (decoded) and `timeout_s` for the whole exchange
(`modqueue.integrations._bounded_http`); past either, the call fails and is retried.

The SDK is heavy (about 1.5 s to import), so it is imported on first use, never when
modqueue starts. Its own retries are switched off: an import is not idempotent, and
the push reconciles a batch whose answer was lost instead of sending it twice.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from modqueue._exceptions import IntegrationError, ReplyLimitExceeded
from modqueue._sections.labelstudio import LabelStudioConnection

__all__ = ["LabelStudioClient", "format_ls_time", "parse_ls_time"]

T = TypeVar("T")
log = logging.getLogger("modqueue.labelstudio")
LS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def format_ls_time(value: datetime) -> str:
    """A datetime as Label Studio's filters want it (`%Y-%m-%dT%H:%M:%S.%fZ`, UTC)."""
    return value.astimezone(UTC).strftime(LS_TIME_FORMAT)


def parse_ls_time(value: Any) -> datetime:
    """Label Studio's timestamps (a string ending in Z, or a datetime) as aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    """SDK models to plain dicts (fields the SDK does not know included)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


class LabelStudioClient:
    """Label Studio through label-studio-sdk, with retries and `IntegrationError`s.

    Connection errors, time-outs and 408/429/5xx answers are retried up to
    `max_attempts` times with exponential backoff and jitter; any other failure, or the
    last one, raises `IntegrationError` naming what was being done (never the key).
    """

    def __init__(
        self, connection: LabelStudioConnection, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.connection = connection
        self._sleep = sleep
        self._sdk: Any = None

    def __repr__(self) -> str:
        return f"LabelStudioClient(url={self.connection.url!r})"

    @property
    def sdk(self) -> Any:
        """The `label_studio_sdk.LabelStudio` client (created on first use)."""
        if self._sdk is None:
            import httpx
            from label_studio_sdk import LabelStudio

            from modqueue.integrations._bounded_http import LimitedTransport, ReplyLimits

            limits = ReplyLimits(
                max_bytes=self.connection.max_response_bytes,
                deadline_s=self.connection.timeout_s,
                bytes_setting="max_response_bytes",
                deadline_setting="timeout_s",
            )
            http = httpx.Client(
                transport=LimitedTransport(limits),
                timeout=self.connection.timeout_s,
                follow_redirects=True,
            )
            try:
                self._sdk = LabelStudio(  # type: ignore[no-untyped-call]
                    base_url=self.connection.url,
                    api_key=self.connection.api_key,
                    timeout=self.connection.timeout_s,
                    max_retries=0,
                    httpx_client=http,
                )
            except Exception as exc:
                raise IntegrationError(
                    f"Label Studio at {self.connection.url}: the API key was refused "
                    f"({_describe(exc)})"
                ) from None
        return self._sdk

    # -- the retry loop -----------------------------------------------------------------

    def call(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run `fn()`, retrying transient failures; `what` names the work in errors."""
        attempts = self.connection.max_attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except Exception as exc:
                transient = _is_transient(exc)
                if not transient or attempt >= attempts:
                    tried = f" after {attempt} attempts" if attempt > 1 else ""
                    raise IntegrationError(
                        f"Label Studio at {self.connection.url}: {what} failed{tried}: "
                        f"{_describe(exc)}"
                    ) from None
                delay = self.connection.backoff_s * (2 ** (attempt - 1))
                delay = min(delay, 30.0) * random.uniform(0.8, 1.2)
                log.warning(
                    "Label Studio: %s failed (%s), retry %d/%d in %.2fs",
                    what,
                    _describe(exc),
                    attempt,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    # -- projects -----------------------------------------------------------------------

    def create_project(self, **fields: Any) -> int:
        """Create a project; its id."""
        project = self.call(
            "creating a project", lambda: self.sdk.projects.create(**fields), retry=False
        )
        return int(project.id)

    def get_project(self, project_id: int) -> dict[str, Any] | None:
        """A project as a dict, or None when it does not exist (any more)."""

        def fetch() -> dict[str, Any] | None:
            try:
                return dict(_plain(self.sdk.projects.get(id=project_id)))
            except Exception as exc:
                if getattr(exc, "status_code", None) == 404:
                    return None
                raise

        return self.call(f"reading project {project_id}", fetch)

    def find_project(self, title: str) -> int | None:
        """The id of a project titled exactly `title`, or None."""

        def find() -> int | None:
            for project in self.sdk.projects.list(title=title, page_size=100):
                if getattr(project, "title", None) == title:
                    return int(project.id)
            return None

        return self.call(f"looking for project {title!r}", find)

    def update_project(self, project_id: int, **fields: Any) -> None:
        """Change a project's settings (idempotent)."""
        self.call(
            f"updating project {project_id}",
            lambda: self.sdk.projects.update(id=project_id, **fields),
        )

    # -- tasks --------------------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: Sequence[dict[str, Any]]) -> list[int]:
        """Import `tasks` in one request, once (not retried); the new task ids, in order."""
        response = self.call(
            f"importing {len(tasks)} tasks into project {project_id}",
            lambda: self.sdk.projects.import_tasks(
                id=project_id, request=list(tasks), return_task_ids=True
            ),
            retry=False,
        )
        ids = list(getattr(response, "task_ids", None) or [])
        if len(ids) != len(tasks):
            raise IntegrationError(
                f"Label Studio at {self.connection.url}: importing {len(tasks)} tasks into "
                f"project {project_id} returned {len(ids)} task ids"
            )
        return [int(i) for i in ids]

    def iter_tasks(
        self,
        project_id: int,
        *,
        filters: list[dict[str, Any]] | None = None,
        ordering: str | None = None,
        fields: str = "task_only",
        page_size: int = 1000,
        ids: Sequence[int] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a project's tasks matching Data Manager `filters` (and, given `ids`,
        only those tasks; ids of deleted tasks are left out), as dicts.

        Each page is fetched with retries; a page that cannot be fetched raises.
        """
        query: dict[str, Any] = {}
        if filters:
            query["filters"] = {"conjunction": "and", "items": filters}
        if ids is not None:
            query["selectedItems"] = {"all": False, "included": [int(i) for i in ids]}
        if ordering:
            query["ordering"] = [ordering]
        query_text = json.dumps(query) if query else None
        page = 1
        while True:

            def fetch(page: int = page) -> Any:
                try:
                    return self.sdk.tasks.list(
                        project=project_id,
                        query=query_text,
                        fields=fields,
                        page=page,
                        page_size=page_size,
                    )
                except Exception as exc:
                    # Past the last page (a total that is a multiple of page_size).
                    if page > 1 and getattr(exc, "status_code", None) == 404:
                        return None
                    raise

            body = self.call(f"listing tasks of project {project_id} (page {page})", fetch)
            if body is None:
                return
            items = list(getattr(body, "items", None) or [])
            if not items:
                return
            yield [dict(_plain(task)) for task in items]
            if len(items) < page_size or not getattr(body, "has_next", True):
                return
            page += 1

    def delete_task(self, task_id: int) -> bool:
        """Delete a task; False when it was already gone."""

        def delete() -> bool:
            try:
                self.sdk.tasks.delete(id=str(task_id))
            except Exception as exc:
                if getattr(exc, "status_code", None) == 404:
                    return False
                raise
            return True

        return self.call(f"deleting task {task_id}", delete)

    def user_emails(self) -> dict[int, str]:
        """Label Studio user ids to their e-mail addresses."""
        users = self.call("listing users", lambda: list(self.sdk.users.list()))
        return {int(u.id): str(u.email or u.username or u.id) for u in users}


def _is_transient(exc: Exception) -> bool:
    import httpx

    if isinstance(exc, httpx.TransportError | ReplyLimitExceeded):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status in RETRY_STATUSES


def _describe(exc: Exception) -> str:
    """A short, key-free description of an SDK or transport error."""
    if isinstance(exc, RecursionError):
        return "malformed JSON: nested too deeply"
    status = getattr(exc, "status_code", None)
    if status is not None:
        body = getattr(exc, "body", None)
        detail = body
        if isinstance(body, dict):
            detail = (
                body.get("validation_errors") or body.get("detail") or body.get("message") or body
            )
        text = json.dumps(detail, default=str) if not isinstance(detail, str) else detail
        return f"HTTP {status}: {text[:500]}"
    name = type(exc).__name__
    message = str(exc)[:300]
    return f"{name}: {message}" if message else name
