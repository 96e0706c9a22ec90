from typing import Any

import reflex as rx


def search_box(on_submit: Any, value: Any = "", size: str = "3") -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="q",
                default_value=value,
                placeholder="Search inside the library's documents…",
                aria_label="Search the library",
                size=size,
                width="100%",
                type="search",
            ),
            rx.button(rx.icon("search", size=16), "Search", type="submit", size=size),
            width="100%",
        ),
        on_submit=on_submit,
        width="100%",
        role="search",
    )
