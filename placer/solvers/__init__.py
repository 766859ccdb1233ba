"""Solvers. The registry (`placer.solvers.registry.SOLVERS`) maps names to functions."""

from placer.solvers.base import SolveOptions, SolveResult, Solver

__all__ = ["SolveOptions", "SolveResult", "Solver"]
