import reflex as rx

from components.search_box import search_box
from components.snippet import snippet
from state.search import SearchState


def _hit(h: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.cond(
                h.thumbnail_url != "",
                rx.image(
                    src=h.thumbnail_url,
                    alt="",
                    width="72px",
                    height="auto",
                    loading="lazy",
                    border="1px solid var(--gray-a5)",
                ),
                rx.box(width="72px"),
            ),
            rx.vstack(
                rx.link(
                    rx.heading(h.title, size="4"),
                    href="/documents/" + h.document_id.to_string(),
                    class_name="hit-title",
                ),
                rx.hstack(
                    rx.text(h.collection_name, size="1", color_scheme="gray"),
                    rx.cond(h.page_label != "", rx.badge(h.page_label, variant="soft", size="1")),
                    spacing="2",
                ),
                snippet(h.snippet),
                spacing="1",
                align="start",
            ),
            spacing="4",
            align="start",
        ),
        width="100%",
        class_name="search-hit",
    )


def search() -> rx.Component:
    return rx.vstack(
        search_box(SearchState.submit, SearchState.query),
        rx.cond(
            SearchState.searched,
            rx.vstack(
                rx.text(
                    rx.cond(
                        SearchState.total == 1,
                        "1 document found",
                        SearchState.total.to_string() + " documents found",
                    )
                    + " ("
                    + SearchState.took_ms.to_string()
                    + " ms)",
                    size="2",
                    color_scheme="gray",
                    id="result-count",
                ),
                rx.cond(
                    SearchState.total == 0,
                    rx.callout(
                        "Nothing matched. Check the spelling, use fewer words, "
                        "or try a broader term.",
                        icon="search_x",
                    ),
                ),
                rx.foreach(SearchState.hits, _hit),
                rx.cond(
                    SearchState.page_count > 1,
                    rx.hstack(
                        rx.button(
                            "Previous",
                            variant="outline",
                            disabled=SearchState.page <= 1,
                            on_click=SearchState.go_to_page(SearchState.page - 1),
                        ),
                        rx.text(
                            "Page "
                            + SearchState.page.to_string()
                            + " of "
                            + SearchState.page_count.to_string()
                        ),
                        rx.button(
                            "Next",
                            variant="outline",
                            disabled=SearchState.page >= SearchState.page_count,
                            on_click=SearchState.go_to_page(SearchState.page + 1),
                        ),
                        align="center",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            rx.text(
                'Type words to find; "quoted phrases", OR and -exclusion work.', color_scheme="gray"
            ),
        ),
        spacing="4",
        width="100%",
    )
