"""ACT-R base-level activation: how available a memory is, from its use history.

A trace's activation is ``B = ln(sum_j age_j ** -d)`` over every moment it was
encoded or recalled (Anderson & Schooler, 1991).  Memories used often and
recently are strong; unused ones fade as a power law, never to zero.

The sum would need the whole history.  We keep only the ``RECENT`` latest
accesses exactly, plus the count and the oldest time, and replace the older
terms by Petrov's (2006) closed-form approximation, which assumes they were
spread evenly between the oldest access and the oldest exact one.  Cost per
trace: O(1) memory and time, and nothing ever sweeps the store to "decay"
it: activation is computed when someone asks, at the time they ask about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Accesses kept exactly; older ones are summarised in closed form.
RECENT = 8
#: Ages below this many seconds count as this (avoids ln(inf) right after use).
MIN_AGE = 1.0


@dataclass
class AccessLog:
    """When a trace was used: the newest accesses, plus a summary of the rest."""

    first: float  # creation time (the oldest access)
    count: int = 1  # every access, creation included
    recent: list[float] = field(default_factory=list)  # newest accesses, ascending, excluding `first`

    def touch(self, when: float) -> None:
        """Record one more access at ``when``."""
        self.count += 1
        self.recent.append(when)
        self.recent.sort()
        del self.recent[:-RECENT]

    def to_dict(self) -> dict:
        return {"first": self.first, "count": self.count, "recent": list(self.recent)}

    @classmethod
    def from_dict(cls, d: dict) -> "AccessLog":
        return cls(first=float(d["first"]), count=int(d["count"]), recent=[float(t) for t in d["recent"]])


def base_level(log: AccessLog, now: float, decay: float = 0.5) -> float:
    """ACT-R base-level activation of one trace at time ``now``."""
    return float(base_levels([log], now, decay)[0])


def base_levels(logs: list[AccessLog], now: float, decay: float = 0.5) -> np.ndarray:
    """Vectorised :func:`base_level` for many traces."""
    return activation_of(*log_columns(logs), now, decay)


def log_columns(logs: list[AccessLog]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Access logs as columns: creation times, access counts, and the kept
    recent accesses in a ``[n, RECENT]`` matrix padded with NaN."""
    n = len(logs)
    recent = np.full((n, RECENT), np.nan)
    for i, log in enumerate(logs):
        recent[i, : len(log.recent)] = log.recent
    first = np.fromiter((log.first for log in logs), np.float64, n)
    count = np.fromiter((log.count for log in logs), np.float64, n)
    return first, count, recent


def activation_of(first: np.ndarray, count: np.ndarray, recent: np.ndarray, now: float, decay: float = 0.5) -> np.ndarray:
    """Base-level activation of the traces whose logs are given as columns
    (:func:`log_columns`): what recall computes for its candidate pool."""
    if not len(first):
        return np.zeros(0)
    kept = (~np.isnan(recent)).sum(axis=1)

    # The exact part: kept accesses that are not in the future.
    ages = now - recent
    usable = ages >= 0  # NaN compares False
    terms = np.zeros_like(ages)  # the power only where an access is kept: most of a pool has few
    terms[usable] = np.maximum(ages[usable], MIN_AGE) ** -decay
    return with_summarised(terms.sum(axis=1), first, count, kept, recent, now, decay)


def with_summarised(exact: np.ndarray, first: np.ndarray, count: np.ndarray, kept: np.ndarray, recent: np.ndarray,
                    now: float, decay: float) -> np.ndarray:
    """The activation from the kept accesses' part (``exact``, summed per trace) plus the
    summarised part: creation and every access no longer kept exactly."""
    n_old = count - kept
    oldest = np.maximum(now - first, MIN_AGE)
    newest_old = np.where(kept > 0, np.maximum(now - recent[:, 0], MIN_AGE), oldest)
    newest_old = np.minimum(newest_old, oldest)
    span = oldest - newest_old
    # Petrov (2006): n_old accesses spread evenly over [first, oldest exact access].
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = n_old * (oldest ** (1 - decay) - newest_old ** (1 - decay)) / ((1 - decay) * span)
    summarised = np.where((n_old == 1) | (span < 1e-9), n_old * oldest**-decay, spread)
    total = exact + np.where((first <= now) & (n_old > 0), summarised, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(total > 0, np.log(total), -np.inf)
