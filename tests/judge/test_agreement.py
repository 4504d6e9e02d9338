from __future__ import annotations

import math

import pytest

from clinreason.judge.agreement import agreement, krippendorff_alpha, weighted_kappa

# Krippendorff's own worked example (4 observers, 12 units, missing values), "Computing Krippendorff's
# alpha-reliability" (2011): alpha 0.743 nominal, 0.815 ordinal, 0.849 interval.
N = None
EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, N],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_krippendorffs_worked_example(level: str, expected: float) -> None:
    assert krippendorff_alpha(EXAMPLE, level) == pytest.approx(expected, abs=1e-3)  # type: ignore[arg-type]


def test_weighted_kappa_by_hand() -> None:
    # scores 1,2,3 against 3,2,1 on the 1-5 scale with quadratic weights (i - j)^2 / 16:
    # observed mean disagreement (4 + 0 + 4) / 16 / 3 = 1/6; expected under the margins (each 1/3 on
    # 1, 2, 3): sum over the 9 pairs of (i - j)^2 / 16 / 9 = 12 / 144 = 1/12; kappa = 1 - (1/6)/(1/12) = -1
    assert weighted_kappa([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert weighted_kappa([1, 4, 5, 2], [1, 4, 5, 2]) == pytest.approx(1.0)


def test_agreement_picks_the_statistic_and_handles_no_overlap() -> None:
    assert agreement([[1, 2, None], [1, 2, 5]]) == ("quadratic-weighted kappa", pytest.approx(1.0))
    name, value = agreement([[1, None], [None, 2]])
    assert name == "quadratic-weighted kappa" and math.isnan(value)
    assert agreement(EXAMPLE)[0] == "Krippendorff's alpha (ordinal)"
    assert math.isnan(krippendorff_alpha([[3, 3], [3, 3], [3, None]]))  # all equal: 0/0
