"""The usage report's files: a CSV for machines, a printable page for people, and the
e-mail that says they are ready (backend.analytics.report makes the report).

The CSV is a list of sections, each a row `section,<name>`, then its header row, then
its rows, then an empty row: `report` (the month, the month before, the time zone, the
instants it covers, when it was made), `figures` (each figure, the month's value and the
month before's; shares are fractions, times seconds, sizes bytes, an empty cell where
there is nothing to divide) and the lists (ranked). Texts a spreadsheet would run as a
formula are written as text.

The page is one self-contained HTML file (its style inline, no script, no image), laid
out for A4 paper; every text that came from people (queries, titles, names, reasons) is
escaped.
"""

import csv
import html
import io
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from backend.analytics.dashboard import safe_cell
from backend.settings import get_settings

if TYPE_CHECKING:
    from backend.analytics.report import Figure, Ranked, Report

# Section titles of the lists, and the label of each of their columns.
TITLES = {
    "top_queries": "Most asked queries",
    "zero_result_queries": "Queries that found nothing",
    "most_viewed_documents": "Most viewed documents",
    "most_downloaded_documents": "Most downloaded documents",
    "collections": "Collections by views and downloads",
    "ingest_failures": "Uploads that did not become searchable",
}
HEADERS = {
    "query": "Query",
    "searches": "Searches",
    "clicks": "Clicks",
    "handled": "Handled",
    "document_id": "Id",
    "title": "Document",
    "collection": "Collection",
    "views": "Views",
    "downloads": "Downloads",
    "collection_id": "Id",
    "name": "Collection",
    "outcome": "Outcome",
    "step": "Step",
    "reason": "Reason",
    "count": "Files",
}
NUMERIC = {"searches", "clicks", "views", "downloads", "count", "document_id", "collection_id"}


def _value(figure_kind: str, value: float | None) -> Any:
    """A figure as the CSV holds it: whole numbers for counts and sizes."""
    if value is None:
        return ""
    return int(round(value)) if figure_kind in ("count", "bytes") else value


def to_csv(report: "Report") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def section(name: str, header: list[str], rows: list[list[Any]]) -> None:
        writer.writerow(["section", name])
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
        writer.writerow([])

    span = report.month.span(report.timezone)
    section(
        "report",
        ["month", "previous_month", "timezone", "starts", "ends", "made_at"],
        [
            [
                report.month.name,
                report.month.before().name,
                report.timezone,
                span.start.isoformat(),
                span.end.isoformat(),
                report.made_at.isoformat(timespec="seconds"),
            ]
        ],
    )
    section(
        "figures",
        ["figure", "label", "month", "previous_month"],
        [
            [f.id, f.label, _value(f.kind, f.value), _value(f.kind, f.previous)]
            for f in report.figures
        ],
    )
    for ranked in report.lists:
        section(
            ranked.name,
            ["rank", *ranked.columns],
            [
                [rank, *(_csv_cell(row[c]) for c in ranked.columns)]
                for rank, row in enumerate(ranked.rows, 1)
            ],
        )
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def number(value: float | None, kind: str = "count") -> str:
    """A figure for people: 1,234; 12.5 %; 2.00; 3.4 s; 1.2 MB; – for none."""
    if value is None:
        return "–"
    v = float(value)
    if kind == "share":
        return f"{v * 100:.1f} %"
    if kind == "seconds":
        return f"{v:.1f} s"
    if kind == "rank":
        return f"{v:.2f}"
    if kind == "bytes":
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if abs(v) < 1000 or unit == "TB":
                return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
            v /= 1000
    return f"{v:,.0f}"


def change(now: float | None, before: float | None, kind: str = "count") -> str:
    """How a figure moved since the month before: +12 %, -3 %, =, new; a share by its
    points (+4.0 pts)."""
    if now is None or before is None:
        return ""
    if kind == "share":
        points = (float(now) - float(before)) * 100
        return "=" if abs(points) < 0.05 else f"{points:+.1f} pts"
    if not before:
        return "new" if now else "="
    pct = (float(now) - float(before)) / float(before) * 100
    return "=" if abs(pct) < 0.05 else f"{pct:+.0f} %"


STYLE = """
@page { size: A4; margin: 16mm 14mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: #111; background: #fff; max-width: 56em; margin: 2em auto;
       padding: 0 1.5em; }
h1 { font-size: 19pt; margin: 0 0 .2em; }
h2 { font-size: 12.5pt; margin: 1.6em 0 .4em; break-after: avoid; page-break-after: avoid; }
p.meta { color: #444; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { text-align: left; vertical-align: top; padding: .22em .5em;
         border-bottom: 1px solid #d4d4d4; overflow-wrap: anywhere; }
th { border-bottom: 1.5px solid #111; font-weight: 600; }
tr.group th { border-bottom: 1px solid #999; padding-top: .9em; font-size: 9.5pt;
              text-transform: uppercase; letter-spacing: .04em; color: #444; }
.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.muted, .empty { color: #666; }
a { color: inherit; text-decoration: none; }
footer { margin-top: 2em; color: #666; font-size: 9pt; }
@media print { body { margin: 0; max-width: none; padding: 0; } }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


GROUPS = {
    "searches": "Searches",
    "documents": "Documents",
    "uploads": "Uploads",
    "users": "People",
    "storage": "Storage",
    "held": "Storage",
}


def _figure_rows(figures: list["Figure"]) -> str:
    rows, group = [], ""
    for f in figures:
        if GROUPS[f.panel] != group:
            group = GROUPS[f.panel]
            rows.append(f'<tr class="group"><th colspan="4">{_e(group)}</th></tr>')
        rows.append(
            f'<tr id="figure-{_e(f.id)}"><td>{_e(f.label)}</td>'
            f'<td class="n">{_e(number(f.value, f.kind))}</td>'
            f'<td class="n muted">{_e(number(f.previous, f.kind))}</td>'
            f'<td class="n muted">{_e(change(f.value, f.previous, f.kind))}</td></tr>'
        )
    return "".join(rows)


def _cell(column: str, row: dict[str, Any], base: str) -> str:
    value = row[column]
    shown = _e(("yes" if value else "no") if isinstance(value, bool) else value)
    if column == "query":
        href = f"{base}/search?{urlencode({'q': value})}"
        shown = f'<a href="{_e(href)}">{shown}</a>'
    elif column == "title":
        href = f"{base}/documents/{int(row['document_id'])}"
        shown = f'<a href="{_e(href)}">{shown}</a>'
    elif column in NUMERIC and not column.endswith("_id"):
        shown = _e(number(value))
    return f'<td class="n">{shown}</td>' if column in NUMERIC else f"<td>{shown}</td>"


def _list(ranked: "Ranked", base: str) -> str:
    name, rows = ranked.name, ranked.rows
    title = f"<h2>{_e(TITLES.get(name, name))}</h2>"
    if not rows:
        return f'<section id="{_e(name)}">{title}<p class="empty">None this month.</p></section>'
    columns = [c for c in ranked.columns if c not in ("document_id", "collection_id")]
    head = "".join(
        f'<th class="{"n" if c in NUMERIC else ""}">{_e(HEADERS.get(c, c))}</th>' for c in columns
    )
    body = "".join(
        f'<tr><td class="n muted">{rank}</td>{"".join(_cell(c, row, base) for c in columns)}</tr>'
        for rank, row in enumerate(rows, 1)
    )
    return (
        f'<section id="{_e(name)}">{title}<table><thead><tr><th class="n">#</th>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></section>"
    )


def to_html(report: "Report") -> str:
    base = get_settings().public_url.rstrip("/")
    month, before = report.month, report.month.before()
    span = month.span(report.timezone)
    figures = _figure_rows(report.figures)
    lists = "".join(_list(ranked, base) for ranked in report.lists)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Usage report: {_e(month.label)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Usage report: {_e(month.label)}</h1>
<p class="meta">The whole library, {span.first.day} to {span.last.day} {_e(month.label)} in
the library's time zone ({_e(report.timezone)}), beside {_e(before.label)}.</p>
<section id="figures">
<h2>Figures</h2>
<table><thead><tr><th>Figure</th><th class="n">{_e(month.label)}</th>
<th class="n">{_e(before.label)}</th><th class="n">Change</th></tr></thead>
<tbody>{figures}</tbody></table>
</section>
{lists}
<footer>Made {report.made_at:%Y-%m-%d %H:%M} UTC. Views and downloads count once per person
per document per hour; active users are different people over the month. The lists
show the month's first 20.</footer>
</body>
</html>
"""


def mail_body(report: "Report", base: str) -> str:
    """The e-mail to an admin who asked for the report: where it is, and a few figures."""
    month, before = report.month, report.month.before()
    url = f"{base}/api/v1/admin/reports/usage/{month.name}"
    headline = {"searches", "active_users", "registrations", "views", "downloads", "uploads"}
    lines = [
        f"{f.label}: {number(f.value, f.kind)} ({before.label}: {number(f.previous, f.kind)})"
        for f in report.figures
        if f.id in headline
    ]
    return (
        f"The library's usage report for {month.label} is ready.\n\n"
        f"Printable page: {url}.html\n"
        f"CSV: {url}.csv\n\n"
        + "\n".join(lines)
        + f"\n\nEvery report is listed on {base}/admin/analytics (log in as an admin).\n"
        f"You receive this because you asked for it on {base}/account, where you can stop it.\n"
    )
