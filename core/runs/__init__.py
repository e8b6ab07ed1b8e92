"""Runs on disk. This package owns a run folder's files (`folder`), one parser per record and the
metrics reader (`records`), the training lock (`lock`), the queue (`queue`), uploads (`uploads`), the
run folder as a TensorBoard log directory (`board`, imported on its own), and the app's launcher of training
processes (`launcher`, imported on its own) with its spare process (`spare`).

It may import core.config, core.files and core.data; torch and tensorboard only inside the functions that
read or write weights or events (the spare process imports this package before torch); never the job or the
trainer it runs.
"""

from core.runs.folder import (
    RESERVED,
    RESUMABLE_FIELDS,
    Run,
    RunError,
    StopFlag,
    check_resumable,
    kept_on_failure,
    list_runs,
    resumed_config,
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
    "check_resumable",
    "kept_on_failure",
    "list_runs",
    "resumed_config",
    "runs_root",
    "sanitize_name",
    "save_upload",
]
