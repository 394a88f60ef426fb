"""CSV and XLSX files of the statistics tables.

Why on the server: the file carries the same numbers as the API (one set of
queries), a lesson table may be longer than any page the browser holds, and an
export is a data release that the audit log must record.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

CHILD_COLUMNS = [
    "unit_id",
    "unit_name",
    "level",
    "lessons_scheduled",
    "lessons_held",
    "lessons_cancelled",
    "lessons_on_time",
    "on_time_share",
    "mean_start_delay_seconds",
    "minutes_taught",
    "receivers_per_lesson",
    "receivers_connected_share",
    "pupils_reported",
    "teaching_points",
    "teaching_points_active",
    "teaching_points_active_share",
    "evaluations",
    "mean_evaluation_score",
    "lessons_recorded",
    "recordings_ready",
    "mean_loss",
    "mean_rtt_ms",
    "mean_low_layer_share",
]

LESSON_COLUMNS = [
    "lesson_id",
    "title",
    "school_name",
    "teacher_name",
    "state",
    "starts_at",
    "actual_start",
    "actual_end",
    "start_delay_seconds",
    "on_time",
    "minutes_taught",
    "receivers_booked",
    "receivers_connected",
    "pupils_reported",
    "evaluations",
    "mean_evaluation_score",
    "recordings_ready",
    "mean_loss",
    "mean_rtt_ms",
    "mean_low_layer_share",
]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """UTF-8 with a BOM: Excel on Chinese Windows opens it without garbling the names."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    ws.append(list(columns))
    for row in rows:
        ws.append([_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
