"""`placer pareto` (being built)."""

import click

from placer.commands.common import Failure


@click.command(name="pareto")
def pareto_command() -> None:
    """Sweep cost against carbon (being built)."""
    raise Failure("pareto: not built yet", 70)
