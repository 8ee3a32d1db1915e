"""Token buckets by client: how often one web address or one Telegram user may ask (both channels use it)."""

from __future__ import annotations

import time
from typing import Callable

from .config import Config


class RateLimiter:
    """Token buckets by client key: `rate` tokens a second, holding at most `burst`."""

    def __init__(self, rate_per_minute: float = Config.ask_rate_per_minute, burst: int = Config.ask_burst,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10000):
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_idle(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    async def take(self, key: str) -> float:
        """`acquire`, with the interface of bot/shared.SharedRateLimiter (the replicas' buckets in Redis)."""
        return self.acquire(key)

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely (they equal a new one); memory stays bounded."""
        full = (self.burst / self.rate)
        for key in [k for k, (_, at) in self._buckets.items() if now - at >= full]:
            del self._buckets[key]
        while len(self._buckets) > self.max_clients:  # still too many: drop the least recently seen
            del self._buckets[min(self._buckets, key=lambda k: self._buckets[k][1])]
