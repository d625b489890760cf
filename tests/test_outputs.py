"""Outputs against a reference: the tolerance that allows for sums in another order and nothing
more."""

from __future__ import annotations

import numpy as np

from lorien.outputs import KERNEL_SCALED_ATOL, output_mismatch


def test_a_value_cancelled_to_near_zero_passes_only_with_the_tolerance_scaled_by_the_output() -> None:
    """Taken from a convolution's check: one of 200,704 values, 0.0037 against 0.0036, where the
    output's RMS is about 100 (a float32 sum of large terms in another order). Within 1e-3 of
    the RMS it is the same output; a value off by the order of the RMS is not."""
    want = np.random.default_rng(0).standard_normal((1, 64, 56, 56)).astype(np.float32) * 100
    want[0, 46, 49, 42] = 0.00359106
    got = want.copy()
    got[0, 46, 49, 42] = 0.00369477
    assert "differs from the reference at 1 of 200704" in (output_mismatch([got], [want]) or "")
    assert output_mismatch([got], [want], scaled_atol=KERNEL_SCALED_ATOL) is None
    got[0, 7, 30, 9] += 50.0
    assert "at 1 of 200704" in (output_mismatch([got], [want], scaled_atol=KERNEL_SCALED_ATOL) or "")
    assert output_mismatch([np.full(3, np.nan)], [np.full(3, np.nan)], scaled_atol=KERNEL_SCALED_ATOL) is None
