"""The bulk import card of a collection page: drop a CSV and a ZIP, read the dry-run
report, then import; the collection's list follows every file through the pipeline."""

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reflex as rx

from backend.documents import bulk
from backend.errors import LibraryError
from backend.settings import get_settings
from state.collections import CollectionState
from state.session import acting, acting_as, session_token

IMPORT_UPLOAD_ID = "bulk-import"


@dataclass
class ReportRow:
    line: int
    action: str
    title: str
    filename: str
    problems: str


def _workdir() -> Path:
    path = get_settings().data_dir / "imports" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


class ImportState(rx.State):
    rows: list[ReportRow] = []
    summary: str = ""
    new_subjects: str = ""
    ready: int = 0  # rows the import would apply
    error: str = ""
    notice: str = ""
    busy: bool = False
    _folder: str = ""

    def _forget(self) -> None:
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = ""
        self.rows, self.summary, self.new_subjects, self.ready = [], "", "", 0

    def _files(self) -> tuple[bytes, Path | None]:
        folder = Path(self._folder)
        data = (folder / "metadata.csv").read_bytes()
        archive = folder / "files.zip"
        return data, archive if archive.exists() else None

    @rx.event
    async def check(self, files: list[rx.UploadFile]) -> Any:
        """The dry run: keep the two files, report what the import would do."""
        self._forget()
        self.error = self.notice = ""
        csv_files = [f for f in files if (f.name or "").lower().endswith(".csv")]
        zips = [f for f in files if (f.name or "").lower().endswith(".zip")]
        if len(csv_files) != 1 or len(zips) > 1 or len(csv_files) + len(zips) != len(files):
            self.error = "Drop one .csv file of metadata, and a .zip of the files it names."
            return rx.clear_selected_files(IMPORT_UPLOAD_ID)
        folder = _workdir()
        self._folder = str(folder)
        (folder / "metadata.csv").write_bytes(await csv_files[0].read())
        if zips:
            with (folder / "files.zip").open("wb") as out:
                while chunk := await zips[0].read(1 << 20):
                    out.write(chunk)
        page = await self.get_state(CollectionState)
        try:
            data, archive = self._files()
            async with acting(self) as (session, actor):
                report = await bulk.plan(
                    session=session,
                    actor=actor,
                    collection_id=page.collection_id,
                    csv_data=data,
                    zip_path=archive,
                )
        except LibraryError as exc:
            self._forget()
            self.error = str(exc)
            return rx.clear_selected_files(IMPORT_UPLOAD_ID)
        self._show(report)
        return rx.clear_selected_files(IMPORT_UPLOAD_ID)

    def _show(self, report: bulk.ImportReport) -> None:
        self.rows = [
            ReportRow(r.line, r.action, r.title, r.filename, " ".join(r.problems))
            for r in report.rows
        ]
        self.ready = report.adding + report.updating
        self.summary = (
            f"{report.adding} to add, {report.updating} to update, {report.refused} refused."
        )
        self.new_subjects = ", ".join(report.new_subjects)

    @rx.event
    def cancel(self) -> None:
        self._forget()

    @rx.event(background=True)
    async def run(self) -> Any:
        async with self:
            if not self._folder or self.busy:
                return None
            self.busy, self.error, self.notice = True, "", ""
            data, archive = self._files()
            collection_id = (await self.get_state(CollectionState)).collection_id
            token = session_token(self)
        try:
            async with acting_as(token) as (session, actor):
                report = await bulk.apply(
                    session=session,
                    actor=actor,
                    collection_id=collection_id,
                    csv_data=data,
                    zip_path=archive,
                )
        except LibraryError as exc:
            async with self:
                self.busy, self.error = False, str(exc)
            return None
        async with self:
            self.busy = False
            self._forget()
            self.notice = (
                f"Imported: {report.adding} added (now being processed), "
                f"{report.updating} updated; {report.refused} refused rows were left out."
            )
        return [CollectionState.load]
