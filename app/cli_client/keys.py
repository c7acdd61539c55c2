"""`trainforge keys`: create, list and revoke the team's API keys."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli_client.common import _json_flag, _on, _print_json, _table, _when
from app.client import Client


def register(commands: Any) -> None:
    """Add `keys` to the `trainforge` subcommands."""
    keys = commands.add_parser("keys", help="manage this team's API keys (API client)"
                               ).add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key; prints its secret once")
    create.add_argument("--name", help="a label for the key")
    _json_flag(create)
    _on(create, _keys_create)
    listing = keys.add_parser("list", help="list the team's keys")
    _json_flag(listing)
    _on(listing, _keys_list)
    revoke = keys.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("id")
    _on(revoke, _keys_revoke)


def _keys_create(args: argparse.Namespace, client: Client) -> int:
    key = client.create_key(args.name)
    if args.json:
        _print_json(key)
    else:
        print(f"created key {key.id}{f' ({key.name})' if key.name else ''}")
        print(f"API key (shown once, store it now): {key.key}")
    return 0


def _keys_list(args: argparse.Namespace, client: Client) -> int:
    keys = client.list_keys()
    if args.json:
        _print_json(keys)
        return 0
    _table(["ID", "NAME", "KEY", "CREATED", "LAST USED", ""],
           [[k.id, k.name, f"{k.prefix}...{k.last_four}", _when(k.created_at),
             _when(k.last_used_at), "(this key)" if k.current else ""] for k in keys])
    return 0


def _keys_revoke(args: argparse.Namespace, client: Client) -> int:
    client.revoke_key(args.id)
    print(f"revoked key {args.id}")
    return 0
