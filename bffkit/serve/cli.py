"""`bffkit serve` and `bffkit users`: the server, and the people it lets in."""

from __future__ import annotations

from pathlib import Path

import click

ROLE_OPTION = click.option("--role", type=click.Choice(["reviewer", "researcher", "admin"]), default="reviewer",
                           show_default=True, help="reviewer: own feedback; researcher: also runs; admin: also purges.")


def _workspace_option(f):
    return click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Workspace folder (bff.duckdb + images/).")(f)


def _store(workspace: Path | None):
    from ..paths import DEFAULT_WORKSPACE
    from ..store import open_store

    return open_store(workspace or DEFAULT_WORKSPACE)


@click.command()
@_workspace_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8000).")
@click.option("--config", "settings_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Server settings YAML (default: <workspace>/serve.yaml when present).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
def serve(workspace: Path | None, host: str | None, port: int | None, settings_path: Path | None,
          log_level: str) -> None:
    """Serve the REST API (docs at /docs) and the review page (/review) over a workspace."""
    import logging

    import uvicorn

    from ..paths import DEFAULT_WORKSPACE
    from .app import create_app
    from .settings import load_settings

    workspace = workspace or DEFAULT_WORKSPACE
    settings = load_settings(workspace, settings_path, host=host, port=port)
    app = create_app(workspace, settings)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"bffkit serve: {workspace} on http://{settings.host}:{settings.port} "
               f"(API docs /docs, review page /review)", err=True)
    # one process: users, rate limits and the store writer live in it
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, workers=1)


@click.group()
def users() -> None:
    """Who may call `bffkit serve`: add, list, new token, remove."""


@users.command("add")
@click.argument("name")
@ROLE_OPTION
@_workspace_option
def users_add(name: str, role: str, workspace: Path | None) -> None:
    """Add a user and print their token (shown this once; only its hash is stored)."""
    from ..exceptions import BffkitError
    from .auth import check_user_name, hash_token, new_token

    try:
        check_user_name(name)
    except ValueError as err:
        raise BffkitError(str(err)) from None
    token = new_token()
    _store(workspace).add_api_user(name, role, hash_token(token))
    click.echo(f"added {name} ({role}); their token, shown once:", err=True)
    click.echo(token)


@users.command("token")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "researcher", "admin"]), default=None,
              help="Also change their role.")
@_workspace_option
def users_token(name: str, role: str | None, workspace: Path | None) -> None:
    """Give a user a new token (the old one stops working) and print it once."""
    from .auth import hash_token, new_token

    token = new_token()
    _store(workspace).set_api_token(name, hash_token(token), role)
    click.echo(f"new token for {name}, shown once:", err=True)
    click.echo(token)


@users.command("list")
@_workspace_option
@click.option("--json", "as_json", is_flag=True)
def users_list(workspace: Path | None, as_json: bool) -> None:
    """Every user and role (never a token)."""
    import json

    rows = _store(workspace).api_users()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['name']:<30} {r['role']:<10} added {r['created_at'][:19]}")


@users.command("remove")
@click.argument("name")
@_workspace_option
def users_remove(name: str, workspace: Path | None) -> None:
    """Remove a user's access (their feedback stays; `bffkit purge --user NAME` erases it)."""
    from ..exceptions import BffkitError

    if not _store(workspace).remove_api_user(name):
        raise BffkitError(f"no user {name!r}; `bffkit users list` shows who there is")
    click.echo(f"removed {name}; the server shuts them out within seconds", err=True)
