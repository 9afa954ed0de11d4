"""Are two eval result files equal in every numeric metric (within 1e-9)?

    python benchmarks/same_metrics.py benchmarks/results/locomo.json /tmp/locomo.json

Walks both JSON trees and compares every number found at the same path in
both, leaving out timings (paths naming seconds, ms, per_s, time, latency).
Prints how many were compared and each that differs; exits 1 if any does.
For changes that must not move rankings.  Not a test.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

TIMINGS = ("time", "seconds", "_ms", "per_s", "latency", "elapsed")


def differences(a: Any, b: Any, path: tuple = ()) -> tuple[int, list[tuple]]:
    """(numbers compared, [(path, a, b)] of those that differ by more than 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        parts = [differences(a[k], b[k], (*path, k)) for k in a if k in b]
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        parts = [differences(x, y, (*path, i)) for i, (x, y) in enumerate(zip(a, b))]
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if any(t in str(p) for p in path for t in TIMINGS):
            return 0, []
        same = abs(a - b) <= 1e-9 or (math.isnan(a) and math.isnan(b))
        return 1, [] if same else [(path, a, b)]
    else:
        return 0, []
    return sum(n for n, _ in parts), [d for _, ds in parts for d in ds]


def main() -> None:
    with open(sys.argv[1]) as fa, open(sys.argv[2]) as fb:
        n, diff = differences(json.load(fa), json.load(fb))
    print(f"{n} numeric metrics compared; {len(diff)} differ")
    for d in diff[:20]:
        print(d)
    sys.exit(1 if diff or not n else 0)


if __name__ == "__main__":
    main()
