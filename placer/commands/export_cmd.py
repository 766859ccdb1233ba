"""`placer export` (being built)."""

import click

from placer.commands.common import Failure


@click.command(name="export")
def export_command() -> None:
    """Export a plan to an orchestrator (being built)."""
    raise Failure("export: not built yet", 70)
