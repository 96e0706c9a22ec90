"""The library's drop zones: every place that takes files by drag and drop (or a click)
is one of these, so each looks and answers alike (tests/test_dropzones.py checks that no
page builds one of its own)."""

from typing import Any

import reflex as rx

# While files are dragged over the zone: a solid accent border and a tinted ground, so a
# person sees where letting go will put them (the dashed border is the zone at rest).
DRAG_ACTIVE = {
    "border_style": "solid",
    "border_color": "var(--accent-9)",
    "background": "var(--accent-a4)",
}


def drop_zone(*children: rx.Component, **props: Any) -> rx.Component:
    """rx.upload with the library's look (`.dropzone` in assets/styles.css) and the
    highlight while files are dragged over it."""
    return rx.upload(*children, class_name="dropzone", drag_active_style=DRAG_ACTIVE, **props)
