"""Every event a browser sends is checked against its handler's signature before it runs.

Any client holding the websocket can send any event with any arguments. This middleware
(installed once in app/app.py, so a new handler is covered without anyone remembering)
refuses an event whose arguments do not fit the handler's type hints: unknown or missing
arguments, a value of the wrong type, a number no row id can have, an oversized text.
The handler never runs, nothing changes, and the tab gets a short notice; no traceback.
Handlers of Reflex's own states run as Reflex made them, except the generic `setvar`,
which the library's states never use.
"""

import dataclasses
import inspect
import logging
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

import reflex as rx
from pydantic import ConfigDict, TypeAdapter, ValidationError
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext
from reflex_base.utils.form import transform_form_data

log = logging.getLogger(__name__)

LIBRARY_PACKAGE = "state."
MAX_TEXT = 100_000  # characters in any one string of an event's arguments
MAX_INT = 2**31 - 1  # ids, pages and counts are PostgreSQL integers
REFUSED = "That request could not be understood; nothing was changed."


class Refused(ValueError):
    """An event's arguments do not fit its handler."""


@dataclasses.dataclass(frozen=True)
class Signature:
    required: frozenset[str]
    hints: dict[str, Any]
    adapters: dict[str, Callable[[Any], Any]]


def _adapter(hint: Any) -> Callable[[Any], Any]:
    if hint is inspect.Parameter.empty or hint is Any:
        return lambda value: value
    checked = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    return checked.validate_python


@cache
def signature_of(fn: Callable[..., Any]) -> Signature:
    """What a handler accepts: its parameters after `self`, each with a validator."""
    hints = typing.get_type_hints(fn)
    params = list(inspect.signature(fn).parameters.values())[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: event handlers take named arguments only")
    hinted = {p.name: hints.get(p.name, p.annotation) for p in params}
    return Signature(
        required=frozenset(p.name for p in params if p.default is p.empty),
        hints=hinted,
        adapters={name: _adapter(hint) for name, hint in hinted.items()},
    )


def _bounded(value: Any, depth: int = 0) -> None:
    if depth > 20:
        raise Refused("nested too deeply")
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
        raise Refused("a number out of range")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise Refused("a text too long")
    if isinstance(value, dict):
        for k, v in value.items():
            _bounded(k, depth + 1)
            _bounded(v, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _bounded(v, depth + 1)


def checked_payload(fn: Callable[..., Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the handler's hints read it; Refused when it does not fit."""
    sig = signature_of(fn)
    unknown = set(payload) - set(sig.adapters)
    if unknown:
        raise Refused(f"unknown arguments {sorted(unknown)}")
    missing = sig.required - set(payload)
    if missing:
        raise Refused(f"missing arguments {sorted(missing)}")
    out = {}
    for name, value in payload.items():
        # A form travels as its [name, value] entries: read it as Reflex will.
        value = transform_form_data(value, sig.hints[name])
        _bounded(value)
        try:
            out[name] = sig.adapters[name](value)
        except ValidationError as exc:
            first = exc.errors()[0]  # where and what, never the value (it may be a password)
            where = ".".join(str(part) for part in (name, *first["loc"]))
            raise Refused(f"{where}: {first['msg']} (got {first['type']})") from None
        _bounded(out[name])
    return out


def is_library_handler(fn: Callable[..., Any]) -> bool:
    return fn.__module__.startswith(LIBRARY_PACKAGE)


class EventGuard(Middleware):
    """Refuses events whose arguments do not fit their handler (see the module's doc)."""

    async def preprocess(self, app: Any, state: BaseState, event: Event) -> StateUpdate | None:
        registered = RegistrationContext.get().event_handlers.get(event.name)
        if registered is None:
            return self._refuse(event, "no such handler")
        fn = registered.handler.fn
        if not is_library_handler(fn):
            if fn.__name__ == "setvar" and any(
                s.__module__.startswith(LIBRARY_PACKAGE) for s in registered.states
            ):
                return self._refuse(event, "setvar is not used by the library's states")
            return None
        try:
            event.payload.update(checked_payload(fn, event.payload))
        except Refused as exc:
            return self._refuse(event, str(exc))
        return None

    def _refuse(self, event: Event, why: str) -> StateUpdate:
        log.warning("refused event %s: %s", event.name[-120:], why)
        notice = Event.from_event_type(rx.toast.error(REFUSED))
        return StateUpdate(events=list(notice))
