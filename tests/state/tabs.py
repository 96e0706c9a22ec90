"""Browser tabs for tests, driven through Reflex's own event processor.

Events go through the same path the websocket feeds (the app's middleware, Reflex's
payload handling, hydration and each page's on_load chain, chained and background
events); only the socket itself is replaced by a sink that keeps what the server sends:
every state delta and every frontend event (redirects, toasts, scripts).
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

from reflex.istate.manager import StateManager
from reflex.istate.manager.memory import StateManagerMemory
from reflex.state import State, StateUpdate
from reflex_base import constants
from reflex_base.event import Event
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.utils import format

import app.app as composition
from backend.auth.tokens import SESSION_COOKIE

HYDRATE = f"{State.get_full_name()}.hydrate_and_load"


@dataclass
class Tab:
    token: str
    path: str
    # The session token, as the browser's HttpOnly cookie: only the handshake headers carry it.
    cookie: str = ""
    # What the server sent, in order, each message serialized as the socket serializes it:
    # state deltas and frontend events (redirects, toasts, scripts).
    messages: list[str] = field(default_factory=list)

    def router_data(self) -> dict[str, Any]:
        """What Reflex's socket namespace attaches to every event of this tab."""
        path, _, query = self.path.partition("?")
        headers = {"host": "library.test", "origin": "http://library.test", "user-agent": "test"}
        if self.cookie:
            headers["cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        route = composition.app.router(path) or "404"
        return {
            constants.RouteVar.PATH: "/" + route.removeprefix("/"),
            constants.RouteVar.ORIGIN: self.path,
            constants.RouteVar.QUERY: dict(
                p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p
            ),
            constants.RouteVar.HEADERS: headers,
            constants.RouteVar.CLIENT_IP: "203.0.113.9",
            constants.RouteVar.SESSION_ID: f"sid-{self.token}",
            constants.RouteVar.CLIENT_TOKEN: self.token,
        }

    def sent(self) -> str:
        """Everything the server sent this tab so far, as the browser received it."""
        return "\n".join(self.messages)


class Tabs:
    """One event processor with a state manager (in memory unless given: a web process's
    Redis one), and the tabs it serves."""

    def __init__(self, manager: StateManager | None = None) -> None:
        self.manager = manager if manager is not None else StateManagerMemory()
        self.errors: list[BaseException] = []
        self.processor = BaseStateEventProcessor(
            middleware=composition.app, backend_exception_handler=self._failed
        )
        self.processor.configure(state_manager=self.manager, event_namespace=self)  # type: ignore[arg-type]
        self.tabs: dict[str, Tab] = {}

    def _failed(self, exc: Exception) -> Any:
        """Kept for the test to see, and answered as the app answers it (a toast)."""
        self.errors.append(exc)
        return composition.app.backend_exception_handler(exc)

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        """The socket's side: keep what would have gone to the browser."""
        tab = self.tabs[token]
        if update.delta:
            tab.messages.append(wire(update.delta))
        tab.messages += [wire({"name": e.name, "payload": e.payload}) for e in update.events]

    async def __aenter__(self) -> "Tabs":
        await self.processor.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.processor.stop()
        await self.manager.close()

    async def open(self, path: str, cookie: str = "") -> Tab:
        """A new tab on `path`: the page hydrates and its on_load handlers run."""
        tab = Tab(token=uuid.uuid4().hex, path=path, cookie=cookie)
        self.tabs[tab.token] = tab
        await self.send(tab, HYDRATE, {"vars": {}})
        return tab

    async def send(self, tab: Tab, name: str, payload: dict[str, Any] | None = None) -> None:
        """One event from the tab, and everything it chains, until all of it is done."""
        event = Event(
            name=name,
            payload=payload or {},
            router_data=tab.router_data(),
        )
        try:
            async for delta in self.processor.enqueue_stream_delta(tab.token, event):
                tab.messages.append(wire(delta))
        except Exception as exc:  # the handler failed: in a browser, a traceback in the log
            self.errors.append(exc)

    async def state(self, tab: Tab) -> str:
        """The tab's whole state as a fresh hydrate would send it (no backend vars), read
        under the tab's lock (from Redis: as the process that holds it last wrote it)."""
        async with self.manager.modify_state(_token(tab)) as root:
            return wire(root.dict())


def event_name(handler: Any) -> str:
    """The name the browser sends for a state's event handler."""
    return format.format_event_handler(handler)


def wire(obj: Any) -> str:
    """`obj` as Reflex's socket serializes it for the browser."""
    return format.json_dumps(obj)


def _token(tab: Tab) -> Any:
    from reflex.istate.manager.token import BaseStateToken

    return BaseStateToken(ident=tab.token, cls=State)
