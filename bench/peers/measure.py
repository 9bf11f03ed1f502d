"""The timing rule of autotune/Measure.h, in Python, for the model peers.

Kiln times a call with one loop (autotune/Measure.cpp): warm-up calls, calls
batched so a sample lasts at least 1 ms, samples until the interquartile
range is within 3% of the median (after at least 5) or the budget is spent.
The peers runner times Kiln's Python module, ONNX Runtime and PyTorch with
this same rule, so their figures compare. Standard library only: both the
kiln venv and the peers venv import it.
"""

import math
import time

WARMUP_CALLS = 2
MIN_SAMPLES = 5
MAX_SAMPLES = 200
STABLE_SPREAD = 0.03
MIN_SAMPLE_SECONDS = 1e-3


def quantile(ordered, q):
    """The q-quantile of ascending `ordered` by linear interpolation between
    order statistics (autotune/Statistics.cpp)."""
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def summarize(samples):
    """median, q1, q3 and iqr (the interquartile range over the median)."""
    ordered = sorted(samples)
    median = quantile(ordered, 0.5)
    q1, q3 = quantile(ordered, 0.25), quantile(ordered, 0.75)
    return {"median": median, "q1": q1, "q3": q3,
            "iqr": (q3 - q1) / median if median > 0 else 0.0}


def measure(work, budget, clock=time.perf_counter):
    """Times `work()` for at most `budget` seconds of sampling; returns the
    samples (seconds per call), calls_per_sample, stable and the summary."""
    start = clock()
    per_call = 0.0
    for _ in range(WARMUP_CALLS):
        before = clock()
        work()
        per_call = clock() - before
    calls = 1
    if 0 < per_call < MIN_SAMPLE_SECONDS:
        calls = math.ceil(MIN_SAMPLE_SECONDS / per_call)
    samples = []
    stable = False
    while len(samples) < MAX_SAMPLES:
        before = clock()
        for _ in range(calls):
            work()
        after = clock()
        samples.append((after - before) / calls)
        if len(samples) < MIN_SAMPLES:
            continue
        stable = summarize(samples)["iqr"] <= STABLE_SPREAD
        if stable or after - start >= budget:
            break
    result = {"samples": samples, "calls_per_sample": calls, "stable": stable}
    result.update(summarize(samples))
    return result
