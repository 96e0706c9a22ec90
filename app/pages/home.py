import reflex as rx

from app import routes
from components.search_box import search_box
from state.browse import TABS
from state.collections import CollectionsState
from state.search import SearchState


def _collection_card(c: rx.Var) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.cond(
                    c["cover_url"] != "",
                    rx.image(
                        src=c["cover_url"].to(str),
                        alt="",
                        width="100%",
                        height="96px",
                        object_fit="cover",
                        border_radius="4px",
                    ),
                ),
                rx.hstack(
                    rx.icon("folder", size=18),
                    rx.text(c["name"], weight="bold"),
                    rx.cond(~c["is_public"], rx.badge("private", color_scheme="orange")),
                    align="center",
                ),
                rx.text(
                    c["document_count"].to_string()
                    + rx.cond(c["document_count"].to(int) == 1, " document", " documents"),
                    size="2",
                    color_scheme="gray",
                ),
                spacing="1",
            ),
            width="100%",
        ),
        href="/collections/" + c["slug"].to(str),
        underline="none",
        width="100%",
    )


def home() -> rx.Component:
    return rx.vstack(
        rx.heading("Find it inside the documents", size="8", padding_top="1em", as_="h1"),
        rx.text(
            "Search the full text of every document in the library.", color_scheme="gray", size="4"
        ),
        search_box(SearchState.submit, SearchState.suggest, SearchState.completions),
        rx.hstack(
            rx.text("Or browse by", color_scheme="gray"),
            *(rx.link(label, href=f"{routes.BROWSE}?by={name}") for name, label in TABS),
            wrap="wrap",
            spacing="3",
            as_="nav",
            aria_label="Browse the library",
        ),
        rx.heading("Collections", size="5", padding_top="1.5em", as_="h2"),
        rx.cond(
            CollectionsState.items.length() > 0,
            rx.grid(
                rx.foreach(CollectionsState.items, _collection_card),
                columns=rx.breakpoints(initial="1", xs="2", md="3"),
                spacing="3",
                width="100%",
            ),
            rx.text("No collections yet.", color_scheme="gray"),
        ),
        rx.link("All collections", href=routes.COLLECTIONS),
        spacing="4",
        width="100%",
    )
