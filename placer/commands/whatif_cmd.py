"""`placer whatif` and `placer diff` (being built)."""

import click

from placer.commands.common import Failure


@click.command(name="whatif")
def whatif_command() -> None:
    """Solve variants of a scenario (being built)."""
    raise Failure("whatif: not built yet", 70)


@click.command(name="diff")
def diff_command() -> None:
    """Compare two plans (being built)."""
    raise Failure("diff: not built yet", 70)
