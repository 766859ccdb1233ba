"""Analyses of a scenario and its plans: explain, what-if, Pareto fronts, plan diffs."""
