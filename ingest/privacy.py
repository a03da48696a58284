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
    """Maps identifiers to pseudonyms, with a cache the caller bounds (``forget``).

    With ``key=None`` pseudonymisation is off and identifiers pass through.
    """

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._cache: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, identifier: str) -> str:
        if self._key is None:
            return identifier
        p = self._cache.get(identifier)
        if p is None:
            p = self._cache[identifier] = pseudonym(self._key, identifier)
        return p

    def forget(self, identifier: str) -> None:
        self._cache.pop(identifier, None)
