"""Solvers. The registry (`placer.solvers.registry.SOLVERS`) maps names to functions."""

from placer.solvers.base import SolveOptions, Solver, SolveResult

__all__ = ["SolveOptions", "SolveResult", "Solver"]
