"""Agreement between raters (clinicians, or a judge and the clinicians) on 1-5 rubric scores.

Krippendorff's alpha (ordinal by default) for any number of raters with missing ratings, through the
`krippendorff` package; weighted Cohen's kappa (quadratic) for two raters, through scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["agreement", "krippendorff_alpha", "weighted_kappa"]

Level = Literal["nominal", "ordinal", "interval", "ratio"]


def krippendorff_alpha(ratings: Sequence[Sequence[float | None]], level: Level = "ordinal") -> float:
    """`ratings[r][u]`: rater r's score of unit u, None where r did not rate u. NaN when no unit has two
    ratings or all ratings are equal (alpha is 0/0 then)."""
    import krippendorff
    import numpy as np

    data = np.array([[np.nan if v is None else float(v) for v in row] for row in ratings], dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).any()
    values = data[~np.isnan(data)]
    if not pairable or len(np.unique(values)) < 2:
        return math.nan
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def weighted_kappa(
    first: Sequence[int], second: Sequence[int], weights: Literal["linear", "quadratic"] = "quadratic"
) -> float:
    """Cohen's kappa of two raters' scores of the same units, on the 1-5 scale."""
    from sklearn.metrics import cohen_kappa_score

    if len(first) != len(second) or not first:
        raise ValueError("weighted kappa needs the two raters' scores of the same, non-empty list of units")
    return float(cohen_kappa_score(first, second, labels=[1, 2, 3, 4, 5], weights=weights))


def agreement(ratings: Sequence[Sequence[float | None]]) -> tuple[str, float]:
    """(statistic's name, value): weighted kappa on the units both rated when there are two raters,
    ordinal Krippendorff's alpha otherwise."""
    if len(ratings) == 2:
        both = [(a, b) for a, b in zip(ratings[0], ratings[1], strict=True) if a is not None and b is not None]
        if not both:
            return "quadratic-weighted kappa", math.nan
        return "quadratic-weighted kappa", weighted_kappa([int(a) for a, _ in both], [int(b) for _, b in both])
    return "Krippendorff's alpha (ordinal)", krippendorff_alpha(ratings)
