"""The one back-off policy of the daemon's retry loops: capped exponential, with jitter.

Every loop that retries a sink or Kafka call (InfluxDB writes, checkpoint transactions,
producing checkpoint records, restoring device state) waits with a :class:`Backoff`. Jitter
spreads the retries of several daemons (and of the lanes of one) over time, so a recovering
InfluxDB or broker is not hit by all of them at the same instant.

>>> b = Backoff(base_s=0.5, cap_s=4.0, random=lambda: 1.0)
>>> [b.next_delay() for _ in range(5)]
[1.0, 2.0, 4.0, 4.0, 4.0]
>>> b.next_delay(retry_after_s=7.0)  # the server said when: honour it
7.0
>>> b.reset(); b.next_delay()
1.0
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

_system_random = secrets.SystemRandom()


class Backoff:
    """Delays for successive attempts: ``min(cap, base * 2**attempt)``, of which a random
    half is taken off ("equal jitter": never less than half the ceiling, so a failing call is
    not retried in a busy loop).

    Parameters
    ----------
    base_s
        The ceiling of the first delay is twice this.
    cap_s
        No delay is longer (except a server's ``Retry-After``).
    random
        A source of floats in [0, 1) (tests pass a fixed one).
    """

    def __init__(
        self,
        base_s: float = 0.2,
        cap_s: float = 10.0,
        *,
        random: Callable[[], float] = _system_random.random,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._random = random

    def reset(self) -> None:
        """The call succeeded: the next failure starts from the shortest delay again."""
        self.attempt = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """The delay before the next attempt (counts one failed attempt)."""
        self.attempt += 1
        if retry_after_s is not None:
            return max(0.0, retry_after_s)
        ceiling: float = min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 30))
        return ceiling * (0.5 + 0.5 * self._random())

    async def sleep(self, retry_after_s: float | None = None) -> None:
        """Wait :meth:`next_delay` seconds."""
        await asyncio.sleep(self.next_delay(retry_after_s))
