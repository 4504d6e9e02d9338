"""Paired differences over repeated splits: a hand-computed corrected resampled t-interval."""

from __future__ import annotations

import math

import pytest

from clinreason.evaluate.paired import corrected_t_interval, paired_difference, spread


def test_spread_skips_missing_values() -> None:
    result = spread([0.5, None, 0.7])
    assert result.mean == pytest.approx(0.6)
    assert result.sd == pytest.approx(math.sqrt(0.02))
    assert spread([None]).mean is None and spread([0.4]).sd is None


def test_corrected_interval_by_hand() -> None:
    # differences 0.01, 0.03, 0.05: mean 0.03, s^2 = 0.0004; J = 3, n_test/n_train = 0.25
    # half width = t(0.975, 2) * sqrt((1/3 + 0.25) * 0.0004) = 4.302653 * 0.0152753 = 0.065724
    low, high = corrected_t_interval([0.01, 0.03, 0.05], test_fraction=0.25)  # type: ignore[misc]
    assert low == pytest.approx(0.03 - 0.065724, abs=1e-5)
    assert high == pytest.approx(0.03 + 0.065724, abs=1e-5)
    # the correction widens the plain t-interval (test_fraction 0)
    plain_low, _ = corrected_t_interval([0.01, 0.03, 0.05], test_fraction=0.0)  # type: ignore[misc]
    assert plain_low > low
    assert corrected_t_interval([0.02], 0.25) is None


def test_paired_difference_uses_seeds_where_both_have_a_value() -> None:
    diff = paired_difference("a", "b", "auroc", [0.8, None, 0.9], [0.7, 0.75, 0.95], 0.2)
    assert diff is not None
    assert diff.differences == pytest.approx([0.1, -0.05])
    assert diff.mean == pytest.approx(0.025)
    assert diff.low is not None and diff.low < diff.mean < diff.high  # type: ignore[operator]
    assert paired_difference("a", "b", "auroc", [None], [0.5], 0.2) is None
