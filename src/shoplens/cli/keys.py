"""`shoplens keys create|list|revoke`: the API keys of `shoplens serve`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli.common import err, friendly_errors, keys_app, out
from shoplens.cli.options import KEYS, with_settings
from shoplens.config import Settings
from shoplens.errors import NotFoundError


@keys_app.command("create")
@friendly_errors
@with_settings(KEYS)
def keys_create(
    settings: Settings,
    role: Annotated[
        str,
        typer.Option(help="reader (classify, list), merchant (same, for shops) or admin (also activate)."),
    ] = "reader",
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
    merchant: Annotated[
        str | None, typer.Option(help="The merchant a merchant key acts for (its products only).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Access to sensitive data, repeatable: shopper-data (shopper profiles)."),
    ] = None,
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from shoplens.api.keys import KeyStore

    key = KeyStore(settings.api_keys_file).create(role, label, merchant, scope or ())
    scopes = f" with scope {', '.join(scope)}" if scope else ""
    article = "an" if role[:1] in "aeiou" else "a"
    err.print(f"created {article} {role} key{scopes} in {settings.api_keys_file}; it is shown only now:")
    print(key)


@keys_app.command("list")
@friendly_errors
@with_settings(KEYS)
def keys_list(settings: Settings) -> None:
    """Stored keys: id (for `keys revoke`), role, merchant, scopes, creation time, label — never the keys."""
    from shoplens.api.keys import KeyStore

    records = KeyStore(settings.api_keys_file).records()
    if not records:
        out.print(f"no keys in {settings.api_keys_file}")
        return
    table = Table(title=f"API keys in {settings.api_keys_file}")
    for col in ("id", "role", "merchant", "scopes", "created (UTC)", "label"):
        table.add_column(col, no_wrap=col == "id")
    for r in records:
        table.add_row(r.id, r.role, r.merchant or "-", ", ".join(r.scopes) or "-", r.created, r.label)
    out.print(table)


@keys_app.command("revoke")
@friendly_errors
@with_settings(KEYS)
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `shoplens keys list` shows it.")],
    settings: Settings,
) -> None:
    """Delete a key: a running server refuses it (401) from its next request on."""
    from shoplens.api.keys import KeyStore

    if not KeyStore(settings.api_keys_file).revoke(key_id):
        raise NotFoundError(
            f"no key with id {key_id!r} in {settings.api_keys_file} (see `shoplens keys list`)"
        )
    out.print(f"revoked key {key_id}")
