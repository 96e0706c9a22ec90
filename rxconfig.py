"""Reflex configuration; every value comes from backend.settings."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin
from reflex_components_radix.plugin import RadixThemesPlugin

from backend.files import keep_private
from backend.settings import get_settings

# Every web process reads this file first, however it is started (the launcher, a
# container's `reflex run`): what it writes (bulk imports, the index's locks) stays private.
keep_private()
settings = get_settings()

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=settings.port,
    backend_port=settings.port,
    # This machine only, unless HOST says otherwise (Reflex's own default is 0.0.0.0).
    backend_host=settings.host,
    trusted_proxy_hops=settings.trusted_proxy_hops,
    api_url=settings.public_url,
    deploy_url=settings.public_url,
    cors_allowed_origins=[settings.public_url],
    # With a Redis URL the tab states live in Redis, so several web workers can share them.
    redis_url=settings.redis_url or None,
    # Reflex normally ships a sitemap plugin; the library's pages are not for crawlers yet.
    disable_plugins=[SitemapPlugin],
    plugins=[RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
)
