"""What every command shares: its common options and the identity steps.

A command declares only its own options, takes an `Invocation` first and names the shared
options it uses with `@uses(...)`:

```python
@app.command("list")
@uses("reviewer", "token", "db", "config", "as_json")
def list_(cli: Invocation, status: StatusOption = None) -> None:
    with cli.open_queue() as queue:
        actor = cli.authorized(queue, Permission.VIEW_ACTIONS)
```

`uses` adds the shared options (`--db`, `--guidelines`, `--config`, `--reviewer`, `--as`,
`--service`, `--token`, `--json`) to the signature Typer reads and hands their values to
the command as one `Invocation`. The identity steps are the `Invocation`'s: `actor`
verifies who is acting (a token from `--token`/`$MODQUEUE_TOKEN`, or the
operating-system user with `[auth] mode = "os"`), and `authorized` then checks a
permission in the domain (`modqueue.queue.authorize_actor`), which audits a refusal as
`access_denied`. In open mode (no reviewers yet) both let everything through.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from sqlmodel import Session

from modqueue._exceptions import PermissionDenied
from modqueue.config import ModqueueConfig, load_config
from modqueue.queue import Permission, ReviewQueue, authorize_actor, is_open_mode
from modqueue.settings import load_settings

__all__ = ["Invocation", "echo_json", "fail", "open_queue", "registrar", "uses"]

T = TypeVar("T")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $MODQUEUE_DATABASE_URL or sqlite:///modqueue.db).",
        show_default=False,
    ),
]
GuidelinesOption = Annotated[
    Path | None,
    typer.Option(
        "--guidelines",
        help="Folder of guideline documents (default: $MODQUEUE_GUIDELINES or the bundled ones).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (default: ./modqueue.toml if present)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReviewerOption = Annotated[
    str | None,
    typer.Option(
        "--reviewer",
        help="Who is acting, verified with --token (or the operating-system user); needed "
        "once reviewers are registered.",
        show_default=False,
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who is acting, verified with --token (or the operating-system user); needed "
        "once reviewers are registered.",
        show_default=False,
    ),
]
ServiceOption = Annotated[
    str | None,
    typer.Option(
        "--service",
        envvar="MODQUEUE_SERVICE",
        help="The service identity this process runs as (a reviewer added with --role "
        "service), verified with --token (or the operating-system user); needed once "
        "reviewers are registered (default: $MODQUEUE_SERVICE).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MODQUEUE_TOKEN",
        help="The acting reviewer's token (default: $MODQUEUE_TOKEN). Not needed in open "
        'mode or with [auth] mode = "os".',
        show_default=False,
    ),
]

# parameter name -> (annotation, default, the Invocation field it fills)
_SHARED: dict[str, tuple[Any, Any, str]] = {
    "reviewer": (ReviewerOption, None, "reviewer"),
    "acting": (AsOption, None, "reviewer"),
    "service": (ServiceOption, None, "reviewer"),
    "token": (TokenOption, None, "token"),
    "db": (DbOption, None, "db"),
    "guidelines": (GuidelinesOption, None, "guidelines"),
    "config": (ConfigOption, None, "config_path"),
    "as_json": (JsonOption, False, "as_json"),
}
_FLAG = {"reviewer": "--reviewer", "acting": "--as", "service": "--service"}


def open_queue(
    db: str | None, guidelines: Path | None = None, *, config: ModqueueConfig | None = None
) -> ReviewQueue:
    """The review queue for `--db`/`--guidelines` or the environment's settings; with
    `config`, its `[quality]` section (when present) sets the second-review shares, its
    trusted-flagger sources the referral boost and deadlines, its `[exposure]` section the
    exposure budgets and `[floods]` flood folding."""
    settings = load_settings(database_url=db, guidelines=guidelines)
    queue = ReviewQueue(settings=settings)
    if config is not None:
        if "quality" in config.model_fields_set:
            queue.quality = config.quality
        queue.flaggers = config.trusted_flaggers()
        queue.exposure = config.exposure
        queue.floods = config.floods
    return queue


def echo_json(value: Any) -> None:
    """Print `value` as indented JSON."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` to stderr; return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@dataclass
class Invocation:
    """The shared options one command was given, and the identity steps on them."""

    db: str | None = None
    guidelines: Path | None = None
    config_path: Path | None = None
    reviewer: str | None = None
    token: str | None = None
    as_json: bool = False
    flag: str = "--reviewer"

    @functools.cached_property
    def config(self) -> ModqueueConfig:
        """The TOML configuration for `--config` (or ./modqueue.toml)."""
        return load_config(self.config_path)

    def open_queue(self, *, guidelines: bool = True) -> ReviewQueue:
        """The review queue, with the configuration's `[quality]` shares when it has
        them; `guidelines=False` skips parsing the policy documents (for commands that
        never read them)."""
        if guidelines:
            return open_queue(self.db, self.guidelines, config=self.config)
        from modqueue.guidelines import GuidelineSet

        settings = load_settings(database_url=self.db)
        return ReviewQueue(
            settings=settings,
            guidelines=GuidelineSet([], directory=settings.guidelines or Path()),
        )

    @property
    def os_mode(self) -> bool:
        """True with `[auth] mode = "os"`: the operating-system user is who acts."""
        return self.config.auth.mode == "os"

    def acting_reviewer(self, queue: ReviewQueue, permission: Permission | None = None) -> str:
        """The verified name of who is acting; raises `PermissionDenied` (a failed check
        is audited as `authentication_failed`). Without a name, once reviewers are
        registered, the refusal of `permission` is audited as `access_denied`."""
        if self.os_mode:
            return queue.authenticate(self.reviewer, os_user=getpass.getuser())
        if not self.reviewer:
            if permission is not None:
                self.authorized(queue, permission)  # refused, and audited, once enforced
            raise PermissionDenied(f"no reviewer given: pass {self.flag}")
        return queue.authenticate(self.reviewer, self.token)

    def actor(self, queue: ReviewQueue) -> str | None:
        """Like `acting_reviewer`, but None when nobody is named and none is needed to
        name one (not in `os` mode); the service then allows (open mode) or refuses."""
        if self.reviewer is None and not self.os_mode:
            return None
        return self.acting_reviewer(queue)

    def actor_or(self, queue: ReviewQueue, by: str) -> str | None:
        """The verified actor; without one, the free-form name `by` in open mode (where
        nothing is verified) and None once reviewers are registered, so the service
        refuses (and audits) an unverified actor instead of trusting `by`."""
        actor = self.actor(queue)
        if actor is not None:
            return actor
        return by if queue.read(is_open_mode) else None

    def authorized(
        self, queue: ReviewQueue, permission: Permission, *, doing: str | None = None
    ) -> str:
        """Verify who is acting and check `permission` for them: the name to record (in
        open mode without one, `(unidentified)`), or `PermissionDenied`, audited as
        `access_denied` with the actor, the permission and the reason. The check only
        reads (a refusal is audited after it), so on SQLite it does not wait for writers."""
        return self.run_as(queue, permission, lambda _s, name: name, doing=doing, read=True)

    def run_as(
        self,
        queue: ReviewQueue,
        permission: Permission,
        work: Callable[[Session, str], T],
        *,
        doing: str | None = None,
        read: bool = False,
    ) -> T:
        """Verify who is acting, then in one transaction check `permission` for them
        (`authorized`) and run `work(session, actor)`; `read=True` for work that only
        reads (a read-only transaction: on SQLite it does not wait for the writers)."""
        actor = self.actor(queue)

        def step(s: Session) -> T:
            name = authorize_actor(
                s,
                actor=actor,
                permission=permission,
                doing=doing,
                how=f"pass {self.flag} (with --token)",
                now=queue.clock(),
            )
            return work(s, name)

        return queue.read(step) if read else queue.run(step)

    def call(
        self,
        service: Callable[..., T],
        *,
        by: str | None = None,
        guidelines_as: str | None = None,
        read: bool = False,
        **kwargs: Any,
    ) -> T:
        """Open the queue, verify who is acting (`actor`, or `actor_or(by)`) and run
        `service(session, actor=..., now=..., **kwargs)` in one transaction; the service
        authorizes the actor. `guidelines_as` passes the guidelines as that keyword
        (`guidelines`, or `known_policies` for their ids); `read=True` for a service that
        only reads (a read-only transaction)."""
        with self.open_queue() as queue:
            actor = self.actor(queue) if by is None else self.actor_or(queue, by)
            if guidelines_as == "guidelines":
                kwargs["guidelines"] = queue.guidelines
            elif guidelines_as is not None:
                kwargs[guidelines_as] = queue.guidelines.ids
            run = queue.read if read else queue.run
            return run(lambda s: service(s, actor=actor, now=queue.clock(), **kwargs))

    def say(self, value: Any, text: str) -> None:
        """Print `value` as JSON with `--json`, else the line `text`."""
        if not self.show(value):
            typer.echo(text)

    def listing(self, rows: Sequence[BaseModel], line: Callable[[Any], str]) -> None:
        """Print `rows` as JSON with `--json`, else `line(row)` for each."""
        if not self.show([r.model_dump(mode="json") for r in rows]):
            for row in rows:
                typer.echo(line(row))

    def show(self, value: Any) -> bool:
        """With `--json`, print `value` as JSON and return True (the caller is done)."""
        if self.as_json:
            echo_json(value)
        return self.as_json


def uses(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options `names` (keys of `_SHARED`): the decorated
    function takes an `Invocation` first, then its own options."""
    unknown = [n for n in names if n not in _SHARED]
    if unknown:
        raise ValueError(f"unknown shared option(s): {', '.join(unknown)}")

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(func, eval_str=True).parameters.values())[1:]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + [
            inspect.Parameter(
                n, inspect.Parameter.KEYWORD_ONLY, default=_SHARED[n][1], annotation=_SHARED[n][0]
            )
            for n in names
        ]
        flag = next((_FLAG[n] for n in names if n in _FLAG), "--reviewer")

        @functools.wraps(func)
        def run(**kwargs: Any) -> None:
            given = {_SHARED[n][2]: kwargs.pop(n) for n in names}
            func(Invocation(**given, flag=flag), **kwargs)

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


def registrar(
    target: typer.Typer, *names: str
) -> Callable[..., Callable[[Callable[..., None]], Callable[..., None]]]:
    """`command = registrar(app, *names)`, then `@command("list")`: registers a command on
    `target` (Typer's `command(name, **settings)`) with the shared options `names`."""

    def command(
        name: str | None = None, **settings: Any
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        def decorate(func: Callable[..., None]) -> Callable[..., None]:
            wrapped = uses(*names)(func)
            target.command(name, **settings)(wrapped)
            return wrapped

        return decorate

    return command
