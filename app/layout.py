"""The page shell: navigation that fits the user's role, then the page's content."""

import reflex as rx

from app import routes
from components.common import button_link
from state.auth import LogoutState
from state.session import SessionState


def _nav_link(label: str, href: str) -> rx.Component:
    return rx.link(
        label, href=href, size="3", weight="medium", color_scheme="gray", high_contrast=True
    )


def navbar() -> rx.Component:
    return rx.el.nav(
        rx.hstack(
            rx.link(
                rx.hstack(
                    rx.icon("library", size=22),
                    rx.text("Library", size="5", weight="bold"),
                    align="center",
                ),
                href=routes.HOME,
                underline="none",
                color_scheme="gray",
                high_contrast=True,
            ),
            rx.hstack(
                _nav_link("Search", routes.SEARCH),
                _nav_link("Browse", routes.BROWSE),
                _nav_link("Collections", routes.COLLECTIONS),
                rx.cond(SessionState.is_staff, _nav_link("Analytics", routes.ADMIN_ANALYTICS)),
                rx.cond(SessionState.is_admin, _nav_link("Users", routes.ADMIN_USERS)),
                rx.cond(SessionState.is_admin, _nav_link("Audit", routes.ADMIN_AUDIT)),
                rx.cond(SessionState.is_admin, _nav_link("Status", routes.ADMIN_STATUS)),
                spacing=rx.breakpoints(initial="3", md="5"),
                wrap="wrap",  # (on a phone, the links take two lines, not a sideways scroll)
            ),
            rx.spacer(),
            rx.cond(
                SessionState.logged_in,
                rx.hstack(
                    rx.link(
                        rx.hstack(
                            rx.icon("circle_user", size=18), SessionState.user_name, align="center"
                        ),
                        href=routes.ACCOUNT,
                        color_scheme="gray",
                        high_contrast=True,
                        id="account-link",
                    ),
                    rx.badge(SessionState.user_role, variant="soft"),
                    rx.button(
                        "Log out",
                        variant="outline",
                        size="2",
                        on_click=LogoutState.logout,
                        id="logout",
                    ),
                    align="center",
                    spacing="3",
                ),
                rx.hstack(
                    button_link("Log in", routes.LOGIN, variant="outline", size="2"),
                    button_link("Register", routes.REGISTER, size="2"),
                    spacing="2",
                ),
            ),
            align="center",
            width="100%",
            spacing=rx.breakpoints(initial="3", md="6"),
            wrap="wrap",
        ),
        padding_x=rx.breakpoints(initial="1em", md="2em"),
        padding_y="0.9em",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
        aria_label="Main",
    )


def shell(content: rx.Component) -> rx.Component:
    return rx.box(
        rx.el.a("Skip to content", href="#main", class_name="skip-link"),
        navbar(),
        rx.el.main(
            rx.container(content, size="3", padding_y="1.5em"),
            id="main",
        ),
        width="100%",
        # "true" once the page's load events have run; browser tests wait for it.
        custom_attrs={"data-ready": rx.cond(rx.State.is_hydrated, "true", "false")},
    )
