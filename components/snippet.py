"""Highlighted snippets, rendered from segments: document text never becomes markup."""

from typing import Any

import reflex as rx


def snippet(segments: Any) -> rx.Component:
    return rx.text(
        rx.foreach(
            segments,
            lambda seg: rx.cond(
                seg.hit,
                rx.el.mark(seg.text, class_name="hit"),
                rx.text.span(seg.text),
            ),
        ),
        size="2",
        color_scheme="gray",
        class_name="snippet",
    )
