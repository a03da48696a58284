"""The reading path's mask of a device's track kinds (``ReadingPath.kinds``): the path tests its
bits instead of looking each rule's kind up in the track dictionary, so the mask must say what
the dictionary holds, whichever way its keys are spelled (a kind from a module, or its plain
string after a snapshot is restored)."""

from __future__ import annotations

import itertools

from detectors import Engine
from detectors.alerts import Track
from messages.kinds import AnomalyKind as K


def path_module() -> object:
    """The plain Python build of the reading path (``kinds`` is a C function in the compiled
    one, called only from C)."""
    import detectors.engine as engine_module
    import detectors.reading_path as reading_path

    return engine_module._interpreted(reading_path)


def test_the_mask_has_one_bit_per_kind_held_and_one_per_kind_open() -> None:
    rp = path_module()
    path = Engine(compiled=False)._path
    bits: dict[str, int] = rp._KIND_BITS  # type: ignore[attr-defined]
    open_shift: int = rp._OPEN  # type: ignore[attr-defined]
    assert len(set(bits.values())) == len(bits)
    assert max(bits.values()) < 1 << open_shift  # held and open bits do not overlap
    kinds = list(bits)
    for a, b in itertools.combinations(kinds, 2):
        tracks = {
            a: Track(a, is_open=True),
            str(b.value): Track(b),
            K.CLOCK_SKEW: Track(K.CLOCK_SKEW),
        }
        mask = path.kinds(tracks)
        assert mask == bits[a] | bits[b] | (bits[a] << open_shift)
    assert path.kinds({}) == 0
