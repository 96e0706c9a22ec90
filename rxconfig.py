"""Reflex configuration; every value comes from backend.settings."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin
from reflex_components_radix.plugin import RadixThemesPlugin

from backend.settings import get_settings

settings = get_settings()

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=settings.port,
    backend_port=settings.port,
    api_url=settings.public_url,
    deploy_url=settings.public_url,
    cors_allowed_origins=[settings.public_url],
    # With a Redis URL the tab states live in Redis, so several web workers can share them.
    redis_url=settings.redis_url or None,
    # Reflex normally ships a sitemap plugin; the library's pages are not for crawlers yet.
    disable_plugins=[SitemapPlugin],
    plugins=[RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
)
