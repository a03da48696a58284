"""Counter-based randomness: every random number is a hash of (seed, stream, keys).

A hash of the sample's identity (device, time, purpose) instead of a stateful generator makes the
stream independent of how time is cut into chunks and of how many devices run beside a device:
device 7 of a 10-device run is identical to device 7 of a 10 000-device run.
"""

from __future__ import annotations

import random

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser; numpy wraps uint64 arithmetic silently on arrays."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash64(seed: int, stream: int, *keys: ArrayLike) -> NDArray[np.uint64]:
    """Hash integer key arrays (broadcast together) into well-mixed uint64 values.

    >>> a = hash64(1, 2, np.arange(3))
    >>> bool((a == hash64(1, 2, np.arange(3))).all()), len(set(a.tolist()))
    (True, 3)
    """
    start = ((seed & _MASK64) * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) & _MASK64
    h = np.atleast_1d(np.asarray(start, dtype=np.uint64))
    for k in keys:
        kk = np.atleast_1d(np.asarray(k)).astype(np.int64).view(np.uint64)
        h = _mix(h ^ (kk * _GOLDEN))
    return _mix(h)


def uniform(seed: int, stream: int, *keys: ArrayLike) -> NDArray[np.float64]:
    """Uniform floats in [0, 1) keyed like :func:`hash64`.

    >>> u = uniform(3, 0, np.arange(100_000))
    >>> bool(0.49 < u.mean() < 0.51)
    True
    """
    h = hash64(seed, stream, *keys)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normal(seed: int, stream: int, *keys: ArrayLike) -> NDArray[np.float64]:
    """Standard normal deviates keyed like :func:`hash64` (inverse CDF of a uniform).

    >>> z = normal(3, 0, np.arange(100_000))
    >>> bool(abs(z.mean()) < 0.02 and 0.98 < z.std() < 1.02)
    True
    """
    u = uniform(seed, stream, *keys)
    # keep away from 0 so ndtri stays finite
    out: NDArray[np.float64] = ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
    return out


def scalar_rng(seed: int, *parts: int | str) -> random.Random:
    """A stdlib generator for the few scalar draws of plans (much faster than numpy per draw).

    String seeding hashes with SHA-512, so it is stable across runs and platforms.
    """
    return random.Random(":".join(str(p) for p in (seed, *parts)))  # noqa: S311 - not crypto
