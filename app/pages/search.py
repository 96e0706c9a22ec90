import reflex as rx

from components.kinds import kind_icon
from components.snippet import snippet
from state.saved import SavedSearchesState
from state.search import SearchState
from state.session import SessionState

# How long typing must pause before the box's words are searched: short, since a search
# still running when the next key comes is dropped (state.search.SearchState.typed).
TYPING_PAUSE_MS = 50


def _hit(h: rx.Var, i: rx.Var) -> rx.Component:
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
                    flex_shrink="0",
                ),
                rx.center(
                    kind_icon(h.kind, size=32),
                    width="72px",
                    min_width="72px",
                    height="72px",
                    color="var(--gray-10)",
                    background="var(--gray-a2)",
                    border_radius="6px",
                ),
            ),
            rx.vstack(
                rx.link(
                    rx.heading(h.title, size="4", as_="h3"),
                    href=h.url,
                    class_name="hit-title",
                    on_click=SearchState.clicked(h.document_id, i),
                ),
                rx.cond(
                    h.byline != "",
                    rx.text(h.byline, size="2", class_name="hit-byline"),
                ),
                rx.hstack(
                    rx.cond(
                        h.kind_label != "",
                        rx.hstack(
                            kind_icon(h.kind, size=14),
                            rx.text(h.kind_label, size="1"),
                            spacing="1",
                            align="center",
                            class_name="hit-kind",
                        ),
                    ),
                    rx.text(h.collection_name, size="1", color_scheme="gray"),
                    rx.cond(
                        h.page_label != "",
                        rx.link(
                            rx.badge(h.page_label, variant="soft", size="1"),
                            href=h.url,
                            class_name="hit-page",
                            on_click=SearchState.clicked(h.document_id, i),
                        ),
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
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


def _facet_value(v: rx.Var) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=v.selected,
                on_change=SearchState.toggle(v.facet, v.value),
                aria_label=v.label,
                size="1",
            ),
            rx.text(
                v.label,
                size="2",
                title=v.label,
                class_name="facet-label",
                white_space="nowrap",
                overflow="hidden",
                text_overflow="ellipsis",
                max_width="170px",
            ),
            rx.spacer(),
            rx.text(v.count.to_string(), size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            width="100%",
        ),
        class_name="facet-value",
        width="100%",
    )


def _facets() -> rx.Component:
    """Beside the results on a wide screen; behind a "Filters" toggle on a phone."""
    return rx.fragment(
        rx.box(
            _facet_groups(),
            display=rx.breakpoints(initial="none", md="block"),
            width="240px",
            min_width="200px",
            flex_shrink="0",
        ),
        rx.el.details(
            rx.el.summary(
                "Filters",
                rx.cond(
                    SearchState.chips.length() > 0,
                    " (" + SearchState.chips.length().to_string() + " chosen)",
                    "",
                ),
            ),
            _facet_groups(),
            display=rx.breakpoints(initial="block", md="none"),
            width="100%",
            class_name="facets-toggle",
        ),
    )


def _facet_groups() -> rx.Component:
    return rx.vstack(
        rx.foreach(
            SearchState.groups,
            lambda g: rx.vstack(
                rx.heading(g.label, size="2", as_="h2"),
                rx.foreach(g.options, _facet_value),
                spacing="1",
                width="100%",
                role="group",
                aria_label=g.label,
                class_name="facet",
            ),
        ),
        spacing="4",
        width="100%",
        as_="nav",
        aria_label="Filters",
    )


def _chips() -> rx.Component:
    return rx.cond(
        SearchState.chips.length() > 0,
        rx.hstack(
            rx.foreach(
                SearchState.chips,
                lambda c: rx.button(
                    c.label,
                    rx.icon("x", size=12),
                    size="1",
                    variant="soft",
                    radius="full",
                    aria_label="Remove filter " + c.label,
                    on_click=SearchState.toggle(c.facet, c.value),
                    class_name="chip",
                ),
            ),
            rx.button("Clear all", size="1", variant="ghost", on_click=SearchState.clear_filters),
            wrap="wrap",
            spacing="2",
        ),
    )


def _pages() -> rx.Component:
    return rx.cond(
        SearchState.page_count > 1,
        rx.hstack(
            rx.button(
                "Previous",
                variant="outline",
                disabled=SearchState.page <= 1,
                on_click=SearchState.go_to_page(SearchState.page - 1),
            ),
            rx.text(
                "Page " + SearchState.page.to_string() + " of " + SearchState.page_count.to_string()
            ),
            rx.button(
                "Next",
                variant="outline",
                disabled=SearchState.page >= SearchState.page_count,
                on_click=SearchState.go_to_page(SearchState.page + 1),
            ),
            align="center",
            as_="nav",
            aria_label="Pages",
        ),
    )


def _empty() -> rx.Component:
    return rx.callout(
        rx.vstack(
            rx.text("Nothing matched.", weight="bold"),
            rx.el.ul(
                rx.el.li("Check the spelling, or use fewer or broader words."),
                rx.el.li("Remove a filter: each one narrows the results."),
                rx.el.li("Use OR between alternatives: aircraft OR aeroplane."),
                rx.el.li("End a word with * to find every ending: aero*"),
            ),
            spacing="1",
        ),
        icon="search_x",
        id="no-results",
    )


def _results() -> rx.Component:
    return rx.vstack(
        rx.heading("Results", as_="h2", class_name="sr-only"),
        rx.hstack(
            rx.text(
                SearchState.count_text,
                size="2",
                color_scheme="gray",
                id="result-count",
                role="status",
            ),
            rx.spacer(),
            rx.cond(
                SessionState.logged_in,
                rx.button(
                    rx.icon("bookmark_plus", size=14),
                    "Save search",
                    size="1",
                    variant="soft",
                    id="save-search",
                    title="Keep this search, and be told by e-mail of new documents that match",
                    on_click=SavedSearchesState.keep(
                        SearchState.query, SearchState.filters, SearchState.sort
                    ),
                ),
            ),
            rx.select.root(
                rx.select.trigger(aria_label="Sort by"),
                rx.select.content(
                    rx.foreach(
                        SearchState.sort_options,
                        lambda o: rx.select.item(o[1], value=o[0]),
                    )
                ),
                value=SearchState.sort,
                on_change=SearchState.set_sort,
                size="1",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            SearchState.held_note != "",
            rx.text(SearchState.held_note, size="2", color_scheme="gray", id="held-note"),
        ),
        rx.cond(
            SearchState.suggestion != "",
            rx.text(
                "Did you mean ",
                # A real link (it opens in a new tab too); its page load runs the search.
                rx.link(
                    SearchState.suggestion,
                    href=SearchState.suggestion_url,
                    weight="bold",
                    id="did-you-mean",
                ),
                "?",
                size="3",
            ),
        ),
        rx.cond(
            SearchState.notes != "",
            rx.text(
                "Searched for ",
                rx.code(SearchState.read_as),
                " (" + SearchState.notes + ")",
                size="2",
                color_scheme="gray",
                id="read-as",
            ),
        ),
        _chips(),
        rx.cond(SearchState.total == 0, _empty()),
        rx.foreach(SearchState.hits, _hit),
        _pages(),
        spacing="3",
        width="100%",
        id="results",
        custom_attrs={"data-shown-for": SearchState.shown_for},
    )


def search() -> rx.Component:
    return rx.vstack(
        rx.heading("Search the library", as_="h1", class_name="sr-only"),
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    # The box belongs to the person typing: a page load sets it (each load
                    # a new key), search results never write over what is being typed.
                    value=SearchState.box,
                    key=SearchState.box_version.to_string(),
                    on_change=SearchState.typed,
                    debounce_timeout=TYPING_PAUSE_MS,
                    placeholder="Search inside the library's documents…",
                    aria_label="Search the library",
                    size="3",
                    width="100%",
                    type="search",
                    auto_focus=True,
                    auto_complete="off",
                    custom_attrs={"list": "search-completions"},
                ),
                rx.el.datalist(
                    rx.foreach(
                        SearchState.completions,
                        lambda c: rx.el.option(c.label, value=c.value),
                    ),
                    id="search-completions",
                ),
                rx.button(rx.icon("search", size=16), "Search", type="submit", size="3"),
                width="100%",
            ),
            on_submit=SearchState.submit,
            width="100%",
            role="search",
        ),
        rx.cond(
            SearchState.searched,
            rx.flex(
                rx.cond(SearchState.groups.length() > 0, _facets()),
                _results(),
                direction=rx.breakpoints(initial="column", md="row"),
                spacing="6",
                align="start",
                width="100%",
            ),
            rx.text(
                'Type words to find; "quoted phrases", OR, -exclusion, author:name, '
                "year:1990..2000 and prefix* work.",
                color_scheme="gray",
            ),
        ),
        spacing="4",
        width="100%",
    )
