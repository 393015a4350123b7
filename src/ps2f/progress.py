"""Progress lines for long per-gene loops: done / total, rate and time left, in the rule's log.

A cluster job's log is a file, not a terminal: a progress bar redrawn with carriage returns
becomes one unreadable line. :class:`ProgressLog` writes a plain log line at most every
``every_s`` seconds (and at the end), e.g.::

    elastic_net: 240/590 genes (41%), 0.52 genes/s, ~11.2 min left

so that ``tail`` on a running job's log tells how far it is and when it will end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

__all__ = ["ProgressLog"]


class ProgressLog:
    """Count finished items and log the progress at most every ``every_s`` seconds.

    Parameters
    ----------
    what : str
        Prefix of each line (e.g. the rule's name).
    total : int
        Items expected (>= 0).
    log : logging.Logger
        Where the lines go (INFO).
    unit : str, default "genes"
        Name of the items in the line.
    every_s : float, default 30.0
        Least seconds between two lines; the last item always logs.
    clock : callable, default time.monotonic
        Seconds, for tests.
    """

    def __init__(
        self,
        what: str,
        total: int,
        log: logging.Logger,
        unit: str = "genes",
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        self.what, self.total, self.log, self.unit = what, int(total), log, unit
        self.every_s, self.clock = float(every_s), clock
        self.done = 0
        self.start = self.last = clock()

    def update(self, n: int = 1) -> None:
        """Add ``n`` finished items; log a line if ``every_s`` passed or all are done."""
        self.done += n
        now = self.clock()
        if now - self.last < self.every_s and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        pct = 100.0 * self.done / self.total if self.total else 100.0
        self.log.info(
            "%s: %d/%d %s (%.0f%%), %.2f %s/s, %s",
            self.what,
            self.done,
            self.total,
            self.unit,
            pct,
            rate,
            self.unit,
            f"~{left / 60:.1f} min left" if self.done < self.total else f"{elapsed / 60:.1f} min",
        )
