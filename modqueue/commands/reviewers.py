"""`modqueue reviewers add | list | disable | grant | link | reset-token`."""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue import queue as mq
from modqueue.commands._common import Invocation, echo_json, registrar

app = typer.Typer(
    help="Reviewer identities, roles and policies. Once the first reviewer (an admin) "
    "exists, only admins manage reviewers and unknown reviewers are refused.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The reviewer's name (--reviewer).")]
SHARED = ("reviewer", "token", "db", "config", "as_json")
command = registrar(app, *SHARED)
EmailOption = Annotated[
    str | None,
    typer.Option(
        "--labelstudio-email",
        metavar="EMAIL",
        help="The e-mail the reviewer logs in to Label Studio with (any case): their "
        "annotations are pulled in as this reviewer's decisions.",
        show_default=False,
    ),
]
PolicyOption = Annotated[
    list[str] | None,
    typer.Option("--policy", help="Policy id to grant (repeatable); * grants every policy."),
]


def _describe(r: mq.ReviewerPublic) -> str:
    state = " (disabled)" if r.disabled else ""
    linked = f", Label Studio {r.labelstudio_email}" if r.labelstudio_email else ""
    return f"{r.name}{state}: role {r.role}, policies {', '.join(r.policies) or 'none'}, " + (
        f"pseudonym {r.pseudonym}{linked}"
    )


def _changed(cli: Invocation, verb: str, row: mq.ReviewerPublic) -> None:
    cli.say(row.model_dump(mode="json"), f"{verb} {_describe(row)}")


def _show_token(created: mq.NewToken, as_json: bool, verb: str) -> None:
    if as_json:
        echo_json({"reviewer": created.reviewer.model_dump(mode="json"), "token": created.token})
        return
    typer.echo(f"{verb} {_describe(created.reviewer)}")
    typer.echo(f"token (shown once; only its hash is stored): {created.token}")
    typer.echo("the reviewer passes it with --token or the MODQUEUE_TOKEN environment variable")


@command("add")
def add(
    cli: Invocation,
    name: NameArg,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="reviewer, senior, lead, admin, ml (export and aggregate quality only) or "
            "service (the identity of `modqueue serve` and `modqueue actions dispatch`).",
        ),
    ] = "reviewer",
    policy: PolicyOption = None,
    labelstudio_email: EmailOption = None,
) -> None:
    """Register a reviewer and print their token once. The first reviewer must be an
    admin: adding it ends open mode."""
    created = cli.call(
        mq.add_reviewer,
        guidelines_as="known_policies",
        name=name,
        role=role,
        policies=policy or [],
        labelstudio_email=labelstudio_email,
    )
    _show_token(created, cli.as_json, "added")


@command("list")
def list_(
    cli: Invocation,
) -> None:
    """Every reviewer with role, policies, state and pseudonym (leads and admins)."""
    rows = cli.call(mq.list_reviewers)
    if cli.show([r.model_dump(mode="json") for r in rows]):
        return
    if not rows:
        typer.echo(mq.OPEN_MODE_WARNING, err=True)
    for r in rows:
        typer.echo(_describe(r))


@command("disable")
def disable(
    cli: Invocation,
    name: NameArg,
    enable: Annotated[bool, typer.Option("--enable", help="Re-enable instead.")] = False,
) -> None:
    """Disable a reviewer (refused everywhere from now on); `--enable` undoes it."""
    verb = "enabled" if enable else "disabled"
    _changed(cli, verb, cli.call(mq.disable_reviewer, name=name, enable=enable))


@command("grant")
def grant(
    cli: Invocation,
    name: NameArg,
    policy: PolicyOption = None,
    revoke: Annotated[
        list[str] | None, typer.Option("--revoke", help="Policy id to take away (repeatable).")
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="New role.", show_default=False)
    ] = None,
) -> None:
    """Grant policies, revoke policies or change a reviewer's role."""
    row = cli.call(
        mq.grant_reviewer,
        guidelines_as="known_policies",
        name=name,
        policies=policy or [],
        revoke=revoke or [],
        role=role,
    )
    _changed(cli, "updated", row)


_LINK_HELP = (
    "Link a reviewer to their Label Studio account (admins only; audited as "
    "reviewer_linked or reviewer_unlinked).\n\n"
    "Once reviewers are registered, `modqueue labelstudio pull` applies an annotation only "
    "as the reviewer linked to its annotator's e-mail, with that reviewer's role and "
    "policies (a senior queue needs a senior). The annotation of an unlinked, disabled or "
    "unauthorised annotator is refused: an access_denied audit event and a line in the "
    "pull's report; it stays in Label Studio, the item stays with Label Studio, and the "
    "first pull after the link or grant is fixed applies it.\n\n"
    "E-mails are compared without regard to case; one account links to one reviewer. "
    "`--unlink` removes the link. Example: modqueue reviewers link ann "
    "--labelstudio-email ann@example.org --reviewer ADMIN"
)


@command("link", help=_LINK_HELP)
def link(
    cli: Invocation,
    name: NameArg,
    labelstudio_email: EmailOption = None,
    unlink: Annotated[
        bool, typer.Option("--unlink", help="Remove the reviewer's Label Studio link.")
    ] = False,
) -> None:
    """Link a reviewer to their Label Studio account (the help is `_LINK_HELP`)."""
    if unlink == (labelstudio_email is not None):
        raise typer.BadParameter(
            "pass either --labelstudio-email EMAIL or --unlink", param_hint="--labelstudio-email"
        )
    row = cli.call(mq.link_reviewer, name=name, labelstudio_email=labelstudio_email)
    _changed(cli, "unlinked" if unlink else "linked", row)


@command("reset-token")
def reset_token_(cli: Invocation, name: NameArg) -> None:
    """Issue a new token for a reviewer (the old one stops working); printed once."""
    created = cli.call(mq.reset_token, name=name)
    _show_token(created, cli.as_json, "new token for")
