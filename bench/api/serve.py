"""The REST API behind the gateway, as app/app.py stacks it minus the Reflex pages, for
bench/api/run.py to serve with granian:

    granian --interface asgi --workers 2 bench.api.serve:app

Its lifespan is the app's: visibility changes listened for, the analytics sent at
shutdown. (Answered here, not by a Starlette app mounting the API: a mount at "" matches
no path with a line break in it, and would answer those itself, in plain text.)
"""

from contextlib import AsyncExitStack

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.access import watch
from backend.analytics import events as analytics_events
from backend.api.routes import create_api
from backend.logging_setup import configure_logging
from backend.settings import get_settings
from backend.web.gateway import wrap


def with_lifespan(api: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await api(scope, receive, send)
            return
        await receive()  # lifespan.startup
        async with AsyncExitStack() as running:
            try:
                await running.enter_async_context(analytics_events.lifespan())
                await running.enter_async_context(watch.lifespan())
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    return app


configure_logging()
app = with_lifespan(wrap(create_api(), get_settings(), upload_path="/_upload"))
