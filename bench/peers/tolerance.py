"""Kiln's whole-model f32 tolerance (reference/Compare.h), for the peers.

An output element passes when |got - want| <= atol + rtol |want|. Both the
kiln venv and the peers venv import this module (numpy only), so Kiln's
module and every peer are held to the same rule.
"""

import numpy as np

RTOL, ATOL = 1e-4, 1e-5


class Mismatch(Exception):
    pass


def max_error(label, outputs, expected):
    """The largest absolute error of `outputs` against the reference's
    `expected`; raises Mismatch, naming `label`, the output, the first
    worst element and how many fail, when one is outside the tolerance."""
    if len(outputs) != len(expected):
        raise Mismatch(f"{label} returns {len(outputs)} outputs, the reference "
                       f"{len(expected)}")
    worst = 0.0
    for i, (got, want) in enumerate(zip(outputs, expected)):
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            raise Mismatch(f"{label} output {i} has shape {got.shape}, the "
                           f"reference's {want.shape}")
        error = np.abs(got - want)
        bad = error > ATOL + RTOL * np.abs(want)
        if bad.any():
            at = np.unravel_index(np.argmax(error - RTOL * np.abs(want)), want.shape)
            raise Mismatch(f"{label} output {i} differs from Kiln's reference at "
                           f"{tuple(int(a) for a in at)}: {got[at]:.7g} vs "
                           f"{want[at]:.7g} ({int(bad.sum())} of {bad.size} elements "
                           f"outside rtol {RTOL}, atol {ATOL})")
        worst = max(worst, float(error.max()))
    return worst
