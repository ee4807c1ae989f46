"""`common`'s public surface: everything in `__all__` exists, is sorted, and is all there is."""

from __future__ import annotations

import common


def test_all_is_sorted_and_complete() -> None:
    assert common.__all__ == sorted(common.__all__, key=lambda name: (not name.isupper(), name))
    for name in common.__all__:
        assert hasattr(common, name), name
    public = {
        name
        for name, value in vars(common).items()
        if not name.startswith("_") and not isinstance(value, type(common))
    }
    assert public <= set(common.__all__), public - set(common.__all__)
