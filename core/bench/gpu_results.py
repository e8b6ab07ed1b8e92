"""The GPU check's results file: one JSON object per line, each written and synced as soon as it is known.

Every record names its `section` and `what` it holds. A section's process appends its figures; the
runner appends each section's `end` (done, failed, killed at its deadline, or skipped). Whatever a
killed process left is kept: the reader skips a last line cut off mid-write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append(path: Path, section: str, what: str, **values: Any) -> dict[str, Any]:
    """Write one record at the end of `path` and sync it to disk before returning it."""
    record = {"section": section, "what": what, **values}
    line = json.dumps(record, default=float) + "\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
    return record


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete record of `path`, in the order written; a line that is not a JSON object is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "section" in record and "what" in record:
            records.append(record)
    return records
