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
    """Vectorised :func:`base_level` for the candidates of one recall."""
    out = np.empty(len(logs), dtype=np.float64)
    for i, log in enumerate(logs):
        exact = [t for t in log.recent if t <= now]
        total = sum(max(now - t, MIN_AGE) ** -decay for t in exact)
        n_old = log.count - len(log.recent)  # accesses not kept exactly: creation + forgotten ones
        if log.first <= now and n_old > 0:
            oldest = max(now - log.first, MIN_AGE)
            if n_old == 1:
                total += oldest**-decay
            else:
                # Petrov (2006): n_old accesses spread evenly over [first, oldest exact access].
                newest_old = max(now - (log.recent[0] if log.recent else log.first), MIN_AGE)
                newest_old = min(newest_old, oldest)
                if oldest - newest_old < 1e-9:
                    total += n_old * oldest**-decay
                else:
                    total += (
                        n_old
                        * (oldest ** (1 - decay) - newest_old ** (1 - decay))
                        / ((1 - decay) * (oldest - newest_old))
                    )
        out[i] = np.log(total) if total > 0 else -np.inf
    return out
