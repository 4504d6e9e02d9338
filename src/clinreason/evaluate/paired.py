"""Comparing two models over repeated random splits: the paired difference and its 95% interval.

Over J repeated train/test splits the per-split differences are not independent (the training sets
overlap), so the plain t-interval is too narrow. Nadeau and Bengio's corrected resampled t-test
(Machine Learning 52, 2003) widens the variance by the share of the data the test splits take:
var = (1/J + n_test/n_train) * s^2, with J - 1 degrees of freedom. With three seeds the interval is
wide; that is the honest answer three seeds give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

__all__ = [
    "PairedDifference",
    "Spread",
    "corrected_t_interval",
    "describe_difference",
    "format_spread",
    "paired_difference",
    "spread",
]


class Spread(BaseModel):
    """A metric over seeds: the per-seed values (None where the model has no value) and their spread."""

    values: list[float | None] = Field(description="One per seed, in the order of the benchmark's seeds.")
    mean: float | None = Field(description="Over the seeds with a value.")
    sd: float | None = Field(description="Sample standard deviation (ddof 1); None with fewer than 2 values.")


class PairedDifference(BaseModel):
    """`model` minus `reference` on the same splits."""

    model: str
    reference: str
    metric: str
    differences: list[float] = Field(description="Per seed where both have a value.")
    mean: float
    low: float | None = Field(description="95% interval (corrected resampled t); None with fewer than 2 seeds.")
    high: float | None


def spread(values: Sequence[float | None]) -> Spread:
    present = [v for v in values if v is not None]
    mean = sum(present) / len(present) if present else None
    sd = None
    if len(present) >= 2 and mean is not None:
        sd = math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))
    return Spread(values=list(values), mean=mean, sd=sd)


def corrected_t_interval(
    differences: Sequence[float], test_fraction: float, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Nadeau-Bengio interval of the mean difference; `test_fraction` is n_test / n_train."""
    from scipy import stats

    count = len(differences)
    if count < 2:
        return None
    mean = sum(differences) / count
    variance = sum((d - mean) ** 2 for d in differences) / (count - 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, count - 1)) * math.sqrt((1 / count + test_fraction) * variance)
    return mean - half, mean + half


def paired_difference(
    model: str,
    reference: str,
    metric: str,
    model_values: Sequence[float | None],
    reference_values: Sequence[float | None],
    test_fraction: float,
) -> PairedDifference | None:
    """None when no seed has both values."""
    differences = [
        m - r for m, r in zip(model_values, reference_values, strict=True) if m is not None and r is not None
    ]
    if not differences:
        return None
    interval = corrected_t_interval(differences, test_fraction)
    return PairedDifference(
        model=model,
        reference=reference,
        metric=metric,
        differences=differences,
        mean=sum(differences) / len(differences),
        low=interval[0] if interval else None,
        high=interval[1] if interval else None,
    )


def format_spread(value: Spread | None, digits: int = 3) -> str:
    """'0.812 ± 0.020' for a table cell ('–' without a value; no '±' with one seed)."""
    if value is None or value.mean is None:
        return "–"
    return f"{value.mean:.{digits}f}" + (f" ± {value.sd:.{digits}f}" if value.sd is not None else "")


def describe_difference(difference: PairedDifference, metric: str | None = None) -> str:
    """One line for under a table: the mean difference, its interval and the per-seed values."""
    d = difference
    interval = f" (95% interval {d.low:+.3f} to {d.high:+.3f})" if d.low is not None and d.high is not None else ""
    per_seed = ", ".join(f"{x:+.3f}" for x in d.differences)
    return f"{d.model} minus {d.reference}, {metric or d.metric}: {d.mean:+.3f}{interval}; per seed {per_seed}"
