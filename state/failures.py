"""What a person sees when an event handler fails, for every handler at once (installed
as the app's backend exception handler in app/app.py, so no handler has to remember).

A `LibraryError` says what went wrong in words fit to show a person ("The search engine
is not answering; try again in 8 s."): that sentence is shown. So is a database that is
busy or away (backend.db.unavailable: every connection in use, a restart). Anything else
is our fault: Reflex's handler logs it with its traceback and shows a neutral notice.
"""

import logging

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec

from backend.db import unavailable
from backend.errors import LibraryError

log = logging.getLogger(__name__)


def on_backend_error(exception: Exception) -> EventSpec | None:
    said = unavailable(exception)
    if said is not None:
        log.warning("event refused: %s (%s)", said, type(exception).__name__)
        return rx.toast.error(str(said), id="backend_error", position="top-center")
    if isinstance(exception, LibraryError):
        log.warning("event refused: %s (%s)", exception, type(exception).__name__)
        return rx.toast.error(str(exception), id="backend_error", position="top-center")
    return default_backend_exception_handler(exception)
