"""How a solve ended: the one vocabulary engines, plans and the CLI share."""

from typing import Literal

#: optimal: proven within the gap target; feasible: a plan, not proven; infeasible: proven
#: that no plan exists; no_solution: none found in the time allowed.
Status = Literal["optimal", "feasible", "infeasible", "no_solution"]
