"""The run folder's only owner: its files, typed records, lock, metrics reader and queue.

The launcher of run processes (`core.runs.launcher`) is imported on its own: it is the app's, and a
training process never needs it.
"""

from core.runs.folder import (
    RESERVED,
    RESUMABLE_FIELDS,
    Run,
    RunError,
    StopFlag,
    kept_on_failure,
    list_runs,
    runs_root,
    sanitize_name,
    save_upload,
)
from core.runs.records import MetricRow, MetricsReader, Status, WatchResult, WatchRow, bounded_indices

__all__ = [
    "RESERVED",
    "RESUMABLE_FIELDS",
    "MetricRow",
    "MetricsReader",
    "Run",
    "RunError",
    "Status",
    "StopFlag",
    "WatchResult",
    "WatchRow",
    "bounded_indices",
    "kept_on_failure",
    "list_runs",
    "runs_root",
    "sanitize_name",
    "save_upload",
]
