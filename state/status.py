"""The system status page (admins): thin; every figure and refusal comes from
backend.operations.status. It refreshes itself every few seconds while it is open."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from backend.errors import LibraryError, NotAuthenticated, NotFound, PermissionDenied
from backend.operations import status
from backend.redis_client import get_redis
from state.session import acting

PAGE = "/admin/status"
REFRESH_SECONDS = 5.0
# A tab left open stops refreshing after this long (a button starts it again).
LIVE_SECONDS = 15 * 60


def _when(ms: int) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


class StatusState(rx.State):
    not_found: bool = False
    error: str = ""
    notice: str = ""
    live: bool = False
    checked_at: str = ""
    version: str = ""
    checks: list[dict[str, str]] = []
    queue: list[dict[str, str]] = []
    queued: str = ""
    workers: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    failed_total: int = 0
    backlog: list[dict[str, str]] = []

    async def _reload(self) -> None:
        async with acting(self) as (session, actor):
            found = await status.system_status(session=session, actor=actor, redis=get_redis())
            await session.commit()
        now = found.checked_at_ms
        self.checked_at, self.version = _when(now), found.version
        self.checks = [
            {
                "name": c.name,
                "state": "ok" if c.ok else ("off" if c.ok is None else "problem"),
                "label": "OK" if c.ok else ("Not set up" if c.ok is None else "Problem"),
                "summary": c.summary,
            }
            for c in found.checks
        ]
        self.queue = [
            {"function": q.function, "due": f"{q.due:,}", "later": f"{q.later:,}"}
            for q in found.queue
        ]
        self.queued = f"{found.queued:,} job{'' if found.queued == 1 else 's'} waiting" + (
            " (functions counted among the first 20,000)" if found.queue_partial else ""
        )
        self.workers = [
            {
                "name": w.name,
                "state": "answering"
                if w.silent_for(now) < status.watch.SILENT_SECONDS
                else "silent",
                "heard": _ago(w.silent_for(now)),
                "since": _when(w.started_at_ms),
                "counts": f"{w.complete:,} done, {w.failed:,} failed, {w.retried:,} retried",
                "running": ", ".join(w.running) or "idle",
            }
            for w in found.workers
        ]
        self.failed_total = found.failed_total
        self.failed = [
            {
                "signature": f.signature,
                "function": f.function,
                "args": ", ".join(repr(a) for a in f.args)[:200],
                "reason": f.reason,
                "times": f"{f.times:,}",
                "last": _when(f.failed_at_ms),
                "first": _when(f.first_failed_at_ms),
                "tries": str(f.tries),
                "retried": f"retried {_ago((now - f.retried_at_ms) / 1000)}"
                if f.retried_at_ms
                else "",
            }
            for f in found.failed
        ]
        fig = found.figures
        oldest = fig.get("ingest_oldest_seconds")
        self.backlog = [
            {"what": "Uploads waiting", "value": f"{fig['ingest_pending']:,}"},
            {"what": "Uploads processing", "value": f"{fig['ingest_processing']:,}"},
            {
                "what": "Oldest unfinished upload",
                "value": _ago(float(oldest)).removesuffix(" ago") if oldest else "–",
            },
            {"what": "Uploads failed (24 h)", "value": f"{fig['ingest_failed_day']:,}"},
            {"what": "Search changes waiting", "value": f"{fig['outbox']:,}"},
            {"what": "Mail waiting", "value": f"{fig['mail_waiting']:,}"},
            {"what": "Mail given up (7 days)", "value": f"{fig['mail_given_up_week']:,}"},
            {"what": "File deletions waiting", "value": f"{fig['deletions_waiting']:,}"},
        ]

    def _forget(self) -> None:
        self.checks, self.queue, self.workers, self.failed, self.backlog = [], [], [], [], []
        self.failed_total, self.queued, self.checked_at = 0, "", ""

    async def _show(self) -> bool:
        """Reload; False when the page is not for this tab (it then shows as not found)."""
        try:
            await self._reload()
            self.not_found = False
            return True
        except (NotFound, PermissionDenied, NotAuthenticated):
            self.not_found, self.live = True, False
            self._forget()
            return False
        except LibraryError as exc:
            self.error = str(exc)
            return True

    @rx.event
    async def load(self) -> Any:
        self.error = self.notice = ""
        if await self._show():
            return StatusState.follow
        return None

    @rx.event(background=True)
    async def follow(self) -> AsyncIterator[Any]:
        """Refresh every few seconds while this tab shows the page (at most LIVE_SECONDS)."""
        async with self:
            # (Sent from any other page, it ends now, not after a first wait.)
            if self.live or self.not_found or not self._on_page():
                return
            self.live = True
        deadline = time.monotonic() + LIVE_SECONDS
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(REFRESH_SECONDS)
                async with self:
                    if not self.live or not self._on_page():
                        return
                    if not await self._show():
                        return
                yield
        finally:
            async with self:
                self.live = False

    def _on_page(self) -> bool:
        return bool(self.router.url.path.rstrip("/") == PAGE)

    @rx.event
    async def retry(self, signature: str) -> None:
        self.error = self.notice = ""
        try:
            async with acting(self) as (session, actor):
                job_id = await status.retry_job(
                    actor=actor, redis=get_redis(), signature=str(signature)[:64]
                )
            self.notice = (
                f"Queued again as {job_id}." if job_id else "That job has recovered meanwhile."
            )
        except (NotFound, PermissionDenied, NotAuthenticated):
            self.not_found = True
            self._forget()
            return
        except LibraryError as exc:
            self.error = str(exc)
        await self._show()
