"""Pseudonymous identifiers: a keyed HMAC of device ids and alert ids.

Everything that leaves the daemon for people or other systems (InfluxDB, the alerts topic,
logs above DEBUG) carries pseudonyms, never raw ids. The key comes from the environment
(``VITALSTREAM_PRIVACY__KEY``) or a file (``privacy.key_file``); the local stack makes one in
``var/stack/pseudonym-key``.

Key rotation: a new key gives every device a new pseudonym. Data written before keeps the old
pseudonyms, so a device's history splits at the rotation; whoever holds both keys can compute
the old-to-new mapping (``pseudonym(old_key, id)`` -> ``pseudonym(new_key, id)``) and relabel.
The changelog and dead-letter topics keep raw ids: they hold raw readings anyway and stay
inside the ingest trust boundary.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX = 20  # 80 bits: no collision in practice for any fleet size


def pseudonym(key: bytes, identifier: str) -> str:
    """The pseudonym of one identifier.

    >>> pseudonym(b"k" * 32, "watch-000001")
    'p05f2c9408f446dc6af3a'
    """
    digest = hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:PSEUDONYM_HEX]


class Pseudonymizer:
    """Maps identifiers to pseudonyms, with a bounded cache.

    With ``key=None`` pseudonymisation is off and identifiers pass through. The cache keeps at
    most ``max_cached`` identifiers (alert ids are new all the time); past that the oldest
    entry goes, which costs one HMAC if it comes back.

    >>> p = Pseudonymizer(b"k" * 32, max_cached=2)
    >>> [p(i) for i in ("a", "b", "c")] == [pseudonym(b"k" * 32, i) for i in ("a", "b", "c")]
    True
    >>> len(p)
    2
    """

    def __init__(self, key: bytes | None, *, max_cached: int = 100_000) -> None:
        if max_cached <= 0:
            raise ValueError("max_cached must be positive")
        self._key = key
        self._cache: dict[str, str] = {}
        self.max_cached = max_cached

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, identifier: str) -> str:
        if self._key is None:
            return identifier
        cache = self._cache
        p = cache.get(identifier)
        if p is None:
            if len(cache) >= self.max_cached:
                del cache[next(iter(cache))]  # the oldest entry (dicts keep insertion order)
            p = cache[identifier] = pseudonym(self._key, identifier)
        return p

    def forget(self, identifier: str) -> None:
        self._cache.pop(identifier, None)
