"""unoserver, with every document opened hidden: run by the Python that has python3-uno.

This file is a script for Debian's /usr/bin/python3 (OFFICE_PYTHON), not a module of the
application: it may import only the standard library, `uno` and `unoserver`.

unoserver 3.7 opens each document in a visible frame. On a headless LibreOffice 7.4 a
spreadsheet's frame then crashes LibreOffice from its idle timer (vcl::Window::GetCursor,
unoserver issue 33): every .xls, .xlsx and .ods "stopped" the converter. Opened hidden,
as LibreOffice's own --convert-to does, they convert like any document.

A spreadsheet is printed with the column widths its author left, so a cell's text that
overflows into the next, filled, cell is cut in the PDF ("Herbarium of" for "Herbarium of
Lisbon"), and the cut words could not be found. Before the PDF is made, each sheet's used
columns are set to the width their text needs (at most MAX_WIDTH, wrapped beyond it).
The document is opened for editing for that (it is a copy in the worker's own folder, and
never saved).
"""

import sys
from typing import Any


def _hidden(desktop: Any) -> Any:
    from com.sun.star.beans import PropertyValue

    class HiddenDesktop:
        """The desktop, but every document it opens is opened hidden, and editable."""

        def loadComponentFromURL(
            self, url: str, frame: str, flags: int, props: tuple[Any, ...]
        ) -> Any:  # noqa: N802 - UNO's name
            kept = tuple(p for p in props if p.Name != "ReadOnly")
            hidden = PropertyValue(Name="Hidden", Value=True)
            document = desktop.loadComponentFromURL(url, "_blank", flags, (*kept, hidden))
            if document is not None and document.supportsService(SPREADSHEET):
                _fit_columns(document)
            return document

        def __getattr__(self, name: str) -> Any:
            return getattr(desktop, name)

    return HiddenDesktop()


SPREADSHEET = "com.sun.star.sheet.SpreadsheetDocument"
MAX_COLUMNS = 256  # a sheet's first columns: past them, a sheet is data, not layout
MAX_WIDTH = 12_000  # 12 cm, in LibreOffice's 1/100 mm


def _fit_columns(document: Any) -> None:
    for sheet in document.Sheets:
        cursor = sheet.createCursor()
        cursor.gotoEndOfUsedArea(False)
        last = min(cursor.RangeAddress.EndColumn, MAX_COLUMNS - 1)
        wrapped = False
        for index in range(last + 1):
            column = sheet.Columns.getByIndex(index)
            column.OptimalWidth = True
            if column.Width > MAX_WIDTH:
                column.Width = MAX_WIDTH
                column.IsTextWrapped = True
                wrapped = True
        if wrapped:
            sheet.Rows.OptimalHeight = True


def main() -> None:
    from unoserver import converter, server

    opened = converter.UnoConverter.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        opened(self, *args, **kwargs)
        self.desktop = _hidden(self.desktop)

    converter.UnoConverter.__init__ = init
    sys.exit(server.main())


if __name__ == "__main__":
    main()
