"""The figures verify compares and the violations it reports: tolerances, the
comparison of a stated figure with the recomputed one, and `Violation`.

Tolerance (placer.plan.verify_static explains the figures): figures agree when
|plan - scenario| <= REL x max(|plan|, |scenario|) + ABS; integers, names, flags and
nulls must agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REL = 1e-6  # relative tolerance for capacities and every stated figure
ABS = 1e-9  # absolute tolerance of a stated figure, in its own unit (float noise of sums)


@dataclass(frozen=True)
class Violation:
    """One broken hard constraint or misstated figure."""

    kind: str  # e.g. "latency", "it_power", "must_place", "kpi"
    subject: str  # unit, site or pool it concerns ("plan", "totals" for plan-wide figures)
    message: str
    amount: float = 0.0  # by how much (in the constraint's unit), where meaningful

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.message}"


def latency_violation(unit: str, region: str | None, rtt: float, slo: float) -> Violation | None:
    """The network RTT SLO of an inference placement: a violation when `rtt` (ms, site to
    region) is above `slo` beyond the relative tolerance; else None."""
    if rtt <= slo * (1 + REL):
        return None
    return Violation("latency", unit, f"{rtt:.1f} ms to {region} > SLO {slo} ms", rtt - slo)


def tolerance(a: float, b: float) -> float:
    return REL * max(abs(a), abs(b)) + ABS


def close(a: float, b: float) -> bool:
    return abs(a - b) <= tolerance(a, b)


def agree(said: Any, actual: Any) -> bool:
    """Floats within the tolerance; integers, names, flags and nulls exactly."""
    if isinstance(said, float) or isinstance(actual, float):
        if said is None or actual is None or isinstance(said, bool) or isinstance(actual, bool):
            return said == actual
        return close(float(said), float(actual))
    return said == actual and type(said) is type(actual)


def fmt(x: Any) -> str:
    """A figure as the plan file writes it (JSON words for null and flags)."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.10g}"
    return str(x)


def misstated(subject: str, path: str, said: Any, actual: Any, kind: str = "kpi") -> Violation:
    """`path: plan says X, the scenario gives Y`, amount X - Y where both are numbers."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (said, actual))
    return Violation(
        kind,
        subject,
        f"{path}: plan says {fmt(said)}, the scenario gives {fmt(actual)}",
        float(said - actual) if numbers else 0.0,
    )


def compare(
    out: list[Violation],
    subject: str,
    where: str,
    name: str,
    said: Any,
    actual: Any,
    kind: str = "kpi",
) -> None:
    """Appends a violation naming `where.name` unless the stated figure agrees."""
    if not agree(said, actual):
        out.append(misstated(subject, f"{where}.{name}" if where else name, said, actual, kind))
