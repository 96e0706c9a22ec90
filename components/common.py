"""Small pure view pieces: props in, component out."""

from typing import Any

import reflex as rx


def error_callout(message: Any) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )


def notice_callout(message: Any) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="info", color_scheme="green", role="status", width="100%"),
    )


def form_field(label: str, name: str, type_: str = "text", **props: Any) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=name, font_weight="500", font_size="0.9em"),
        rx.input(name=name, id=name, type=type_, width="100%", size="3", **props),
        spacing="1",
        width="100%",
    )


def narrow_card(*children: rx.Component, **props: Any) -> rx.Component:
    return rx.center(
        rx.card(rx.vstack(*children, spacing="4", width="100%"), width="100%", max_width="440px"),
        width="100%",
        padding_top="2em",
        **props,
    )


def status_badge(status: Any, step: Any = "") -> rx.Component:
    return rx.match(
        status,
        ("ready", rx.badge("ready", color_scheme="green")),
        ("failed", rx.badge("failed", color_scheme="red")),
        ("duplicate", rx.badge("duplicate", color_scheme="amber")),
        (
            "needs_password",
            rx.badge(rx.icon("lock", size=12), "needs a password", color_scheme="amber"),
        ),
        (
            "quarantined",
            rx.badge(rx.icon("shield_alert", size=12), "quarantined", color_scheme="red"),
        ),
        ("processing", rx.badge(rx.spinner(size="1"), "processing: ", step, color_scheme="blue")),
        rx.badge("waiting", color_scheme="gray"),
    )


def not_found(message: str) -> rx.Component:
    return rx.vstack(
        rx.heading("Not found", size="7", as_="h1"),
        rx.text(message),
        rx.link("Back to the library", href="/"),
        spacing="3",
        padding_y="3em",
    )


def button_link(
    label: Any, href: Any, link_props: dict[str, Any] | None = None, **button: Any
) -> rx.Component:
    """A link that looks like a button: one element and one tab stop (a button inside a
    link would be two, and two roles for one thing)."""
    return rx.button(
        rx.link(label, href=href, underline="none", **(link_props or {})),
        as_child=True,
        **button,
    )
