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
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import reflex as rx
import structlog
from pydantic import ConfigDict, TypeAdapter, ValidationError
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext
from reflex_base.utils.form import transform_form_data

from backend import metrics, ratelimits
from backend.db import set_reader
from state.session import session_token

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

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


SEARCH = "search"
SLOW_DOWN = "You are sending requests too quickly; wait {wait} s and try again."
access_log = structlog.get_logger("library.access")


def budget(name: str) -> Callable[[F], F]:
    """Marks a handler as spending a rate budget of its own besides every event's (the
    handlers that run a search spend `search`), under @rx.event."""

    def mark(fn: F) -> F:
        setattr(fn, BUDGET_ATTRIBUTE, name)
        return fn

    return mark


BUDGET_ATTRIBUTE = "__library_budget__"


def budget_of(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, BUDGET_ATTRIBUTE, ""))


async def _spend(fn: Callable[..., Any], tab: str, address: str) -> ratelimits.Decision:
    """Every event spends its tab's `events` budget; a marked handler also spends its own
    budget per tab and per address (many tabs from one address share it)."""
    spent = [("events", tab)]
    special = budget_of(fn)
    if special:
        spent += [(special, tab), (special, address)]
    return await ratelimits.spend_all(spent)


class EventGuard(Middleware):
    """Refuses events whose arguments do not fit their handler (see the module's doc), and
    events past their rate budgets (backend.ratelimits): the handler does not run, and
    the tab is told to slow down."""

    async def preprocess(self, app: Any, state: BaseState, event: Event) -> StateUpdate | None:
        registered = RegistrationContext.get().event_handlers.get(event.name)
        if registered is None:
            metrics.WS_EVENTS.labels("unknown", "refused").inc()
            return self._refuse(event, "no such handler")
        fn = registered.handler.fn
        session = state.router.session
        event_id = uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=event_id)
        # Whose own changes this event must read back (backend.db.read_scope): the login
        # session's (all its tabs), else this tab's.
        set_reader(session_token(state) or session.client_token)
        decision = await _spend(fn, ratelimits.subject_of(session.client_token), session.client_ip)
        outcome = "served" if decision.allowed else "rate limited"
        access_log.info(
            "event", handler=event.name[-120:], client=session.client_ip, outcome=outcome
        )
        metrics.WS_EVENTS.labels(fn.__qualname__, outcome).inc()
        if not decision.allowed:
            notice = Event.from_event_type(rx.toast.warning(SLOW_DOWN.format(wait=decision.wait)))
            return StateUpdate(events=list(notice))
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
