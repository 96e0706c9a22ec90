import reflex as rx

from components.common import not_found


def page_not_found() -> rx.Component:
    return not_found("There is no page at this address.")
