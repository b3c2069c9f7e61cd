"""`gridmap user ...`: accounts and API tokens from the shell (whoever runs the CLI administers the database)."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.common import actor, console, failing_clearly, migrated_session

app = typer.Typer(help="user accounts and API tokens", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="user name (login)")]
# gis.auth.users.ROLES, written out so `--help` need not load the accounts module (a unit test keeps them equal).
ROLE_HELP = "admin | planner | dispatcher | grid_worker | viewer | leader"


def _password(given: str | None) -> str:
    """The password given, else asked for twice without echo."""
    if given is not None:
        return given
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@app.command()
def add(
    name: Name,
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    password: Annotated[str | None, typer.Option(help="asked for (not echoed) when omitted")] = None,
    display_name: Annotated[
        str | None, typer.Option(help="e.g. 王芳: what the public sees; required for grid workers")
    ] = None,
    grid: Annotated[list[str] | None, typer.Option(help="grid code in the current plan (grid workers; repeat)")] = None,
) -> None:
    """Create an account that signs in with a password."""
    from gis.incidents import workers

    secret = _password(password)
    with failing_clearly(), migrated_session() as session:
        user = workers.add_user(
            session, name, role, actor=actor(), password=secret, display_name=display_name, grids=grid or ()
        )
    grids = f", grids {', '.join(user['grids'])}" if user["grids"] else ""
    console.print(f"user {user['name']} added as {user['role']}{grids}")


@app.command()
def passwd(name: Name, password: Annotated[str | None, typer.Option(help="asked for when omitted")] = None) -> None:
    """Set a user's password (also gives a login to a worker made by `gridmap worker assign`); the user's
    access tokens issued before stop working."""
    from gis.auth import users

    secret = _password(password)
    with failing_clearly(), migrated_session() as session:
        users.change_user(session, name, actor=actor(), password=secret)
    console.print(f"password of {name} changed")


@app.command("set")
def set_(
    name: Name,
    role: Annotated[str | None, typer.Option(help=ROLE_HELP)] = None,
    active: Annotated[bool | None, typer.Option("--active/--disabled", help="enable or disable the account")] = None,
    display_name: Annotated[str | None, typer.Option(help="what the public sees instead of the login")] = None,
    password: Annotated[str | None, typer.Option(help="a new password (`gridmap user passwd` asks for it)")] = None,
) -> None:
    """Change a user's role, display name or password, or disable / enable the account. A new password,
    disabling and enabling end the user's access tokens issued before; disabling also revokes its API tokens."""
    from gis.auth import users

    with failing_clearly(), migrated_session() as session:
        user = users.change_user(
            session, name, actor=actor(), role=role, active=active, display_name=display_name, password=password
        )
    console.print(f"user {user['name']}: {user['role']}, {'active' if user['active'] else 'disabled'}")


@app.command("list")
def list_() -> None:
    """Every account: role, whether it is active and can sign in, grids."""
    from rich.table import Table

    from gis.auth import users

    with failing_clearly(), migrated_session() as session:
        found = users.list_users(session)
    table = Table("name", "role", "active", "password", "grids", "display name")
    for u in found:
        table.add_row(
            u["name"],
            u["role"],
            "yes" if u["active"] else "no",
            "yes" if u["has_password"] else "no",
            ", ".join(u["grids"]),
            u["display_name"] or "",
        )
    console.print(table)


@app.command()
def token(
    name: Name,
    label: Annotated[str | None, typer.Option("--name", help="what the token is for")] = None,
    expires_days: Annotated[int | None, typer.Option(min=1, help="never expires when omitted")] = None,
) -> None:
    """Issue an API token for an integration acting as NAME; it is printed once, on standard output."""
    from gis.auth import tokens

    with failing_clearly(), migrated_session() as session:
        issued = tokens.issue_api_token(session, name, actor=actor(), name=label, expires_days=expires_days)
    # The token alone on stdout (scripts capture it); the explanation on stderr.
    typer.echo(issued["token"])
    typer.echo(
        f"API token {issued['id']} for {name}: shown this once — send it as 'Authorization: Bearer <token>'; "
        f"revoke with `gridmap user revoke {issued['id']}`",
        err=True,
    )


@app.command("tokens")
def tokens_(name: Annotated[str | None, typer.Argument(help="only this user's")] = None) -> None:
    """API tokens (never their values)."""
    from rich.table import Table

    from gis.auth import tokens

    with failing_clearly(), migrated_session() as session:
        found = tokens.list_api_tokens(session, name)
    table = Table("id", "user", "name", "starts with", "created", "last used", "expires", "revoked")
    for t in found:
        table.add_row(
            str(t["id"]),
            t["user"],
            t["name"] or "",
            t["prefix"] + "…",
            t["created_at"][:19],
            (t["last_used_at"] or "")[:19],
            (t["expires_at"] or "never")[:19],
            (t["revoked_at"] or "")[:19],
        )
    console.print(table)


@app.command()
def revoke(token_id: Annotated[int, typer.Argument(help="token id (see `gridmap user tokens`)")]) -> None:
    """Revoke an API token: it stops working at once."""
    from gis.auth import tokens

    with failing_clearly(), migrated_session() as session:
        revoked = tokens.revoke_api_token(session, token_id, actor=actor())
    console.print(f"API token {token_id} of {revoked['user']} revoked")
