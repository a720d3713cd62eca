"""`rota tokens create|ls|revoke`: who may use the server (an admin token is needed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rota.auth.tokens import Role
from rota.cli.common import open_client, wants_json
from rota.cli.output import echo, print_json, stderr, stdout

app = typer.Typer(help="Make, list and revoke bearer tokens (admin).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the token is for (e.g. ci, laptop).")],
    role: Annotated[
        Role,
        typer.Option(
            help="admin: everything; client: jobs and schedules; worker: connect as a "
            "worker; read: the dashboard and reads."
        ),
    ],
    bind: Annotated[
        str | None,
        typer.Option(
            help="Worker tokens: only workers named like name:<glob>, or carrying a tag like "
            "tag:<glob> (tag:device:* for devices)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Write the token into this store directly (an SQLite file or a "
            "postgresql:// DSN) instead of asking a server: for a lost admin token."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a token and print its secret: shown this once, never again."""
    if db is not None:
        import anyio

        made = anyio.run(_create_in_store, db, name, role.value, bind)
    else:
        with open_client(ctx) as client:
            made = client.create_token(name, role.value, binding=bind)
    if wants_json(ctx, as_json):
        print_json(made)
        return
    token = made["token"]
    stderr().print(
        f"token {token['id']} ({token['name']}, role {token['role']}) made; its secret, "
        "shown this once:"
    )
    print(made["secret"])


@app.command("ls")
def list_tokens(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List tokens: id, name, role, binding, when made and revoked (never a secret)."""
    with open_client(ctx) as client:
        tokens = client.tokens()
    if wants_json(ctx, as_json):
        print_json(tokens)
        return
    if not tokens:
        stdout().print("no tokens")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("ID", "NAME", "ROLE", "BINDING", "CREATED", "REVOKED"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            token["id"],
            token["name"],
            token["role"],
            token["binding"] or "",
            token["created_at"][:19].replace("T", " "),
            (token["revoked_at"] or "")[:19].replace("T", " "),
            style="dim" if token["revoked_at"] else None,
        )
    stdout().print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (see `rota tokens ls`).")],
) -> None:
    """Revoke a token at once, open worker connections and event streams included."""
    with open_client(ctx) as client:
        token = client.revoke_token(token_id)
    echo(f"revoked token {token['id']} ({token['name']})")


async def _create_in_store(db: str, name: str, role: str, bind: str | None) -> dict[str, Any]:
    from rota.auth.tokens import Binding, mint
    from rota.server.api.tokens import token_out
    from rota.store.factory import opened_store

    binding = None if bind is None else Binding.parse(bind)
    async with opened_store(db) as store:
        secret, record = mint(name=name, role=Role(role), binding=binding, now=await store.now())
        await store.create_token(record)
    return {"token": token_out(record).model_dump(mode="json"), "secret": secret}
