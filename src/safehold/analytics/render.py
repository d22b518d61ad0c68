"""Reports as CSV and as a small SVG bar chart. Pure: no FastAPI, no SQLAlchemy.

The chart is hand-written (one horizontal bar per row, escaped labels, no script, no
external references), so it passes the pages' strict content security policy and needs no
plotting library; suppressed and pending rows are drawn as labelled gaps."""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

from safehold.analytics.reports import Report, Row

BAR_HEIGHT, GAP, LABEL_WIDTH, BAR_WIDTH = 18, 6, 320, 360


def _measures(row: Row, measures: tuple[str, ...]) -> list[str]:
    values = {
        "people": row.people, "events": row.events, "errors": row.errors,
        "error_rate": row.error_rate,
    }  # fmt: skip
    return ["" if values[m] is None else str(values[m]) for m in measures]


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*report.fields, *report.measures, "status"])
    for row in report.rows:
        writer.writerow(
            [row.values[f] for f in report.fields] + _measures(row, report.measures) + [row.status]
        )
    return out.getvalue()


def label(row: Row, fields: tuple[str, ...]) -> str:
    parts = [row.values[f] for f in fields if f not in {"period", "end"} and row.values[f]]
    return " · ".join(parts) or "all"


def to_svg(report: Report, measure: str = "people") -> str:
    """A horizontal bar chart of ``measure`` (``people`` or ``error_rate``) per row."""
    values = [getattr(r, measure) for r in report.rows]
    top = max((v for v in values if v is not None), default=0) or 1
    height = GAP + len(report.rows) * (BAR_HEIGHT + GAP) + 24
    width = LABEL_WIDTH + BAR_WIDTH + 80
    title = escape(f"{report.name} {report.first.isoformat()}…{report.last.isoformat()}: {measure}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
        '<g font-family="sans-serif" font-size="12">',
        f'<text x="4" y="14">{title} (groups of fewer than {report.k} people are not shown)</text>',
    ]
    for i, (row, value) in enumerate(zip(report.rows, values, strict=True)):
        y = 24 + i * (BAR_HEIGHT + GAP)
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(label(row, report.fields))}</text>"
        )
        if value is None:
            parts.append(f'<text x="{LABEL_WIDTH}" y="{y + 13}" fill="#777">{row.status}</text>')
            continue
        w = max(1, round(BAR_WIDTH * float(value) / float(top)))
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w}" height="{BAR_HEIGHT}" fill="#3b6ea5"/>'
        )
        parts.append(f'<text x="{LABEL_WIDTH + w + 4}" y="{y + 13}">{escape(str(value))}</text>')
    parts.append("</g></svg>")
    return "\n".join(parts)
