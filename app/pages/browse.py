import reflex as rx

from components.common import button_link
from state.browse import BrowseState


def _tabs() -> rx.Component:
    return rx.el.nav(
        rx.hstack(
            rx.foreach(
                BrowseState.tabs,
                lambda t: button_link(
                    t.label,
                    t.url,
                    link_props={"aria_current": rx.cond(t.current, "page", "false")},
                    variant=rx.cond(t.current, "solid", "soft"),
                    size="2",
                ),
            ),
            wrap="wrap",
            spacing="2",
        ),
        aria_label="Browse by",
        id="browse-tabs",
    )


def _trail() -> rx.Component:
    return rx.cond(
        BrowseState.trail.length() > 0,
        rx.el.nav(
            rx.hstack(
                rx.foreach(
                    BrowseState.trail,
                    lambda t: rx.hstack(rx.link(t.label, href=t.url), rx.text("›"), spacing="1"),
                ),
                spacing="1",
                wrap="wrap",
            ),
            aria_label="Breadcrumbs",
            id="browse-trail",
        ),
    )


def _letters() -> rx.Component:
    return rx.cond(
        BrowseState.letters.length() > 0,
        rx.el.nav(
            rx.hstack(
                rx.foreach(
                    BrowseState.letters,
                    lambda k: rx.link(
                        rx.badge(
                            k.label,
                            variant=rx.cond(k.current, "solid", "soft"),
                            size="2",
                            title=k.count.to_string() + rx.cond(k.count == 1, " title", " titles"),
                        ),
                        href=k.url,
                        aria_label=k.label
                        + ": "
                        + k.count.to_string()
                        + rx.cond(k.count == 1, " title", " titles"),
                    ),
                ),
                wrap="wrap",
                spacing="1",
            ),
            aria_label="Titles by first letter",
            id="browse-letters",
        ),
    )


def _entries() -> rx.Component:
    return rx.cond(
        BrowseState.entries.length() > 0,
        rx.vstack(
            rx.heading(BrowseState.entries_heading, size="3", as_="h2"),
            rx.el.ul(
                rx.foreach(
                    BrowseState.entries,
                    lambda e: rx.el.li(
                        rx.link(e.label, href=e.url),
                        rx.text(" (" + e.count.to_string() + ")", as_="span", color_scheme="gray"),
                        class_name="browse-entry",
                    ),
                ),
                class_name="browse-entries",
            ),
            width="100%",
            spacing="2",
        ),
    )


def _rows() -> rx.Component:
    return rx.cond(
        BrowseState.rows.length() > 0,
        rx.vstack(
            rx.cond(
                BrowseState.rows_heading != "",
                rx.heading(BrowseState.rows_heading, size="3", as_="h2"),
            ),
            _row_list(),
            width="100%",
            spacing="2",
        ),
    )


def _row_list() -> rx.Component:
    return rx.el.ol(
        rx.foreach(
            BrowseState.rows,
            lambda r: rx.el.li(
                rx.link(r.title, href="/documents/" + r.id.to_string(), weight="medium"),
                rx.text(r.details, size="2", color_scheme="gray"),
                class_name="browse-document",
            ),
        ),
        class_name="browse-documents",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.cond(
            BrowseState.prev_url != "",
            button_link("← Previous", BrowseState.prev_url, variant="soft"),
        ),
        rx.cond(
            BrowseState.next_url != "",
            button_link("Next →", BrowseState.next_url, variant="soft"),
        ),
        spacing="3",
        id="browse-pager",
    )


def browse() -> rx.Component:
    return rx.vstack(
        rx.heading(
            rx.cond(
                BrowseState.collection_name != "",
                "Browse " + BrowseState.collection_name,
                "Browse the library",
            ),
            size="7",
            as_="h1",
        ),
        _tabs(),
        rx.cond(
            BrowseState.error != "",
            rx.callout(BrowseState.error, icon="triangle_alert", color_scheme="red"),
            rx.vstack(
                _letters(),
                _trail(),
                rx.cond(
                    BrowseState.heading != "",
                    rx.heading(BrowseState.heading, size="5", as_="h2", id="browse-heading"),
                ),
                _entries(),
                _rows(),
                rx.cond(
                    BrowseState.loaded
                    & (BrowseState.entries.length() == 0)
                    & (BrowseState.rows.length() == 0),
                    rx.text("Nothing to show here yet.", color_scheme="gray", id="browse-empty"),
                ),
                _pager(),
                spacing="4",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
        id="browse",
    )
