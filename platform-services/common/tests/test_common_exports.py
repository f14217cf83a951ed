"""course_common's public surface: __all__ is sorted and names exactly what the package exports."""

from __future__ import annotations

import course_common


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(course_common) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(course_common, name)).__name__ == "module"}
    assert course_common.__all__ == sorted(course_common.__all__)
    assert set(course_common.__all__) == public - modules - {"annotations"}
