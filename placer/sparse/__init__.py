"""Pair-list (sparse) form of the Problem and the solvers that scale on it."""
