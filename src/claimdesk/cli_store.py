"""Store commands: ingest, query, history, export (placeholder until the store lands)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the store's commands to the `claimdesk` group."""
