"""The composition root: the Reflex app, its pages, and the REST API mounted beside them."""

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx
from reflex.config import get_config
from reflex.constants import Endpoint
from reflex_base.event import resolve_upload_chunk_handler_param
from reflex_base.registry import RegistrationContext
from starlette.types import ASGIApp

from app import routes
from app.layout import shell
from app.pages import (
    account,
    admin,
    analytics,
    audit,
    auth,
    browse,
    collections,
    documents,
    errors,
    home,
    search,
    status,
)
from backend import tracing
from backend.access import watch
from backend.analytics import events as analytics_events
from backend.api.routes import create_api
from backend.db import get_engine
from backend.logging_setup import configure_logging
from backend.settings import get_settings
from backend.web.gateway import wrap as wrap_in_gateway
from backend.web.guard import RequestGuard
from backend.web.heads import PageHeads
from state import event_timing
from state.account import AccountState, EmailConfirmState
from state.admin import UsersState
from state.analytics import AnalyticsState
from state.audit import AuditState
from state.auth import (
    AcceptInviteState,
    ConfirmRegistrationState,
    ForgotState,
    LoginState,
    RegisterState,
    ResetState,
)
from state.browse import BrowseState
from state.collections import CollectionsState, CollectionState
from state.documents import DocumentState
from state.failures import on_backend_error
from state.guard import EventGuard
from state.record import RecordState
from state.saved import SavedSearchesState
from state.search import SearchState
from state.session import SessionState
from state.status import StatusState

configure_logging()
# Traces over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (backend.tracing): requests, and
# websocket events through Reflex's own trace points, which also time every handler.
tracing.configure("library-web", engine=get_engine)
event_timing.install()


def is_chunked_upload_handler(name: str) -> bool:
    """Does this name a background handler that takes its upload as a stream of chunks?"""
    registered = RegistrationContext.get().event_handlers.get(name)
    if registered is None:
        return False
    try:
        resolve_upload_chunk_handler_param(registered.handler)
    except Exception:  # not a background handler, or no rx.UploadChunkIterator parameter
        return False
    return True


def guard(asgi_app: ASGIApp) -> ASGIApp:
    """Caps on request bodies, and who may upload, in front of everything (uploads
    included: Reflex's own routes are inside the API it is given)."""
    settings = get_settings()
    return RequestGuard(
        asgi_app,
        upload_path=get_config().prepend_backend_path(str(Endpoint.UPLOAD)),
        upload_cap=settings.upload_request_cap,
        other_cap=settings.max_other_request_bytes,
        file_cap=settings.max_upload_bytes,
        is_upload_handler=is_chunked_upload_handler,
    )


def heads(asgi_app: ASGIApp) -> ASGIApp:
    """Record pages' heads written on the server: real titles, Highwire Press tags for
    Google Scholar, and 404 for a record that is not there (backend.web.heads)."""
    return PageHeads(asgi_app)


def gateway(asgi_app: ASGIApp) -> ASGIApp:
    """Request ids, rate limits, security headers and access logs, outermost (see
    backend.web.gateway): every page, event connection, upload and API call passes it."""
    return wrap_in_gateway(
        asgi_app,
        get_settings(),
        upload_path=get_config().prepend_backend_path(str(Endpoint.UPLOAD)),
    )


app = rx.App(
    stylesheets=["/library.css"],
    # What every page needs and no page remembers (tables as cards on a phone, file
    # inputs named): see the script.
    head_components=[rx.script(src="/aids.js")],
    # The REST API mounts the Reflex app (pages, websocket, uploads); the guard wraps both,
    # the record pages' heads the guard, and the gateway all of it.
    api_transformer=[create_api(), guard, heads, gateway, tracing.asgi],
    # A handler's LibraryError is shown in its own words, whichever handler it was.
    backend_exception_handler=on_backend_error,
)
# Every event is checked against its handler's signature before it runs.
app.add_middleware(EventGuard())
# At shutdown, the analytics events this process recorded are sent before it ends.
app.register_lifespan_task(analytics_events.lifespan)
# While it runs, it hears at once of every change of who may see which collection.
app.register_lifespan_task(watch.lifespan)

PAGES: Sequence[tuple[str, Callable[[], rx.Component], str, list[Any]]] = [
    (routes.HOME, home.home, "Library", [CollectionsState.load]),
    (routes.SEARCH, search.search, "Search", [SearchState.load]),
    (routes.BROWSE, browse.browse, "Browse", [BrowseState.load]),
    (routes.LOGIN, auth.login, "Log in", [LoginState.load]),
    (routes.REGISTER, auth.register, "Register", [RegisterState.load]),
    (routes.FORGOT, auth.forgot, "Forgot password", [ForgotState.load]),
    (routes.RESET, auth.reset, "New password", [ResetState.load]),
    (
        routes.CONFIRM_REGISTRATION,
        auth.confirm_registration,
        "Finish registration",
        [ConfirmRegistrationState.load],
    ),
    (routes.ACCEPT_INVITE, auth.accept_invite, "Accept invitation", [AcceptInviteState.load]),
    (
        routes.ACCOUNT,
        account.account,
        "Your account",
        [AccountState.load, SavedSearchesState.load],
    ),
    (routes.CONFIRM_EMAIL, account.confirm_email, "Confirm address", [EmailConfirmState.load]),
    (routes.COLLECTIONS, collections.collections, "Collections", [CollectionsState.load]),
    (routes.COLLECTION, collections.collection, "Collection", [CollectionState.load]),
    (routes.DOCUMENT, documents.document, "Document", [DocumentState.load, RecordState.load]),
    (routes.ADMIN_USERS, admin.users, "Users", [UsersState.load]),
    (routes.ADMIN_ANALYTICS, analytics.analytics, "Analytics", [AnalyticsState.load]),
    (routes.ADMIN_STATUS, status.status, "System status", [StatusState.load]),
    (routes.ADMIN_AUDIT, audit.audit, "Audit log", [AuditState.load]),
]

for route, view, title, loads in PAGES:
    app.add_page(
        lambda view=view: shell(view()),
        route=route,
        title=f"{title} · Library",
        on_load=[SessionState.refresh_user, *loads],
    )

app.add_page(
    lambda: shell(errors.page_not_found()),
    route="404",
    title="Not found · Library",
    on_load=SessionState.refresh_user,
)
