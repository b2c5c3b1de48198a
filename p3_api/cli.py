"""``p3 api-keys``: create, list and revoke the API's keys and OAuth clients (no FastAPI import)."""

from __future__ import annotations

from typing import Annotated

import typer

from p3_common.settings import SettingsError, get_settings

from .auth.credentials import Role
from .auth.store import CredentialStore, open_store

app = typer.Typer(help="API keys and OAuth clients of the P3 API.", no_args_is_help=True)


def _store() -> CredentialStore:
    try:
        return open_store(get_settings())
    except SettingsError as exc:
        typer.echo(f"p3: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None


Owner = Annotated[str, typer.Option(help="Who the credential is for (a person or a service).")]
RoleOption = Annotated[Role, typer.Option(help="viewer: reads; analyst: + queries; admin: all.")]


@app.command()
def create(
    owner: Owner,
    role: RoleOption = Role.viewer,
    client: Annotated[
        bool, typer.Option("--client", help="An OAuth client (id + secret for /oauth/token).")
    ] = False,
) -> None:
    """Create an API key (or an OAuth client) and print its secret: it is shown only now."""
    if not owner.strip():
        typer.echo("p3: --owner must not be empty", err=True)
        raise typer.Exit(2)
    store = _store()
    try:
        credential, secret = store.create("client" if client else "api_key", owner.strip(), role)
    finally:
        store.close()
    if client:
        typer.echo(f"client_id:     {credential.key_id}")
        typer.echo(f"client_secret: {secret}")
    else:
        typer.echo(f"key id: {credential.key_id}")
        typer.echo(f"api key: {secret}")
    typer.echo(
        f"role {role.value}, owner {credential.owner}. Store the secret now; only its hash is kept.",
        err=True,
    )


@app.command("list")
def list_keys() -> None:
    """List keys and clients: id, kind, owner, role, created, last used, revoked."""
    store = _store()
    try:
        credentials = store.list_all()
    finally:
        store.close()
    header = ("key id", "kind", "owner", "role", "created", "last used", "revoked")
    rows = [
        (
            c.key_id,
            c.kind,
            c.owner,
            c.role.value,
            c.created_at.strftime("%Y-%m-%d %H:%M"),
            c.last_used_at.strftime("%Y-%m-%d %H:%M") if c.last_used_at else "-",
            c.revoked_at.strftime("%Y-%m-%d %H:%M") if c.revoked_at else "-",
        )
        for c in credentials
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key id or client id.")]) -> None:
    """Revoke a key or client: its next request (and its tokens) get 401."""
    store = _store()
    try:
        revoked = store.revoke(key_id)
    finally:
        store.close()
    if not revoked:
        typer.echo(f"p3: no live key or client {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")
