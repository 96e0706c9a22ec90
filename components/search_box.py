from typing import Any

import reflex as rx

SUGGESTIONS_ID = "search-box-suggestions"
# How long typing must pause before suggestions are asked for.
SUGGEST_PAUSE_MS = 120


def search_box(on_submit: Any, on_type: Any, suggestions: rx.Var, size: str = "3") -> rx.Component:
    """A search box that offers suggestions as it is typed in (`on_type` is sent the text
    after a short pause; `suggestions` are rows with a `value` and a `label`) and opens the
    search page's results on Enter."""
    return rx.form(
        rx.hstack(
            rx.debounce_input(
                rx.input(
                    name="q",
                    placeholder="Search inside the library's documents…",
                    aria_label="Search the library",
                    size=size,
                    width="100%",
                    type="search",
                    auto_complete="off",
                    on_change=on_type,
                    custom_attrs={"list": SUGGESTIONS_ID},
                ),
                debounce_timeout=SUGGEST_PAUSE_MS,
            ),
            rx.el.datalist(
                rx.foreach(suggestions, lambda c: rx.el.option(c.label, value=c.value)),
                id=SUGGESTIONS_ID,
            ),
            rx.button(rx.icon("search", size=16), "Search", type="submit", size=size),
            width="100%",
        ),
        on_submit=on_submit,
        width="100%",
        role="search",
    )
