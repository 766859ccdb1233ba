"""`placer report` (being built)."""

import click

from placer.commands.common import Failure


@click.command(name="report")
def report_command() -> None:
    """Write an HTML report (being built)."""
    raise Failure("report: not built yet", 70)
