"""The REST API behind the gateway, as app/app.py stacks it minus the Reflex pages, for
bench/api/run.py to serve with granian:

    granian --interface asgi --workers 2 bench.api.serve:app

Its lifespan is the app's: the analytics sent at shutdown, visibility changes listened for.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from backend.access import watch
from backend.analytics import events as analytics_events
from backend.api.routes import create_api
from backend.logging_setup import configure_logging
from backend.settings import get_settings
from backend.web.gateway import wrap


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    async with analytics_events.lifespan(), watch.lifespan():
        yield


configure_logging()
app = Starlette(lifespan=lifespan)
app.mount("", wrap(create_api(), get_settings(), upload_path="/_upload"))
