"""What runs keep outside their folders: corpora uploaded in the app, under `<runs root>/uploads/`.

An upload belongs to the runs trained on it; once the last of them goes, the app offers to delete it too.
"""

from __future__ import annotations

from pathlib import Path

from core.runs import Run, RunError, list_runs, runs_root


def upload_left_alone(run: Run, runs: list[Run] | None = None) -> Path | None:
    """The uploaded corpus `run` trained on, if no other run uses it (so deleting the run may delete it).

    None when the corpus is not an upload, is gone, or another run uses it or might (a run whose settings
    cannot be read is counted as using it).
    """
    try:
        corpus = Path(run.config().corpus)
    except RunError:
        return None
    uploads = (runs_root() / "uploads").resolve()
    if corpus.is_symlink() or not corpus.is_file() or corpus.resolve().parent != uploads:
        return None
    for other in list_runs() if runs is None else runs:
        if other.path.resolve() == run.path.resolve():
            continue
        try:
            if Path(other.config().corpus).resolve() == corpus.resolve():
                return None
        except RunError:
            return None
    return corpus
