"""The training queue and run deletion, drawn by the Home and Train pages.

Everything acts through the process-wide launcher, which refuses what is unsafe (deleting a run that
trains or waits, in this app or any other process); the callbacks only turn its refusals into messages.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from core.runs import Run, RunError
from core.runs.launcher import Launcher
from core.runs.uploads import upload_left_alone
from pages.parts.common import launcher
from pages.parts.text import literal

CONFIRM = "delete_confirm"  # the run whose deletion waits for "Yes, delete it"
PICK = "delete_pick"
MESSAGE = "delete_message"  # (kind, text) of the last delete, shown once
DELETE_UPLOAD = "delete_upload"  # the confirmation's "also delete its uploaded corpus" box


def queue_positions(reg: Launcher) -> dict[str, int]:
    """1-based queue position of each queued run, by name."""
    return {run.name: position for position, run in enumerate(reg.queued_runs(), 1)}


def queue_view(reg: Launcher) -> None:
    """The runs waiting for a training slot, next first, each with a Cancel button; nothing when none waits."""
    queued = reg.queued_runs()
    if not queued:
        return
    st.subheader("Queue")
    at_once = "one training" if reg.max_jobs == 1 else f"{reg.max_jobs} trainings"
    st.caption(f"At most {at_once} at a time: the next run starts when a training ends.")
    for position, run in enumerate(queued, 1):
        name, button = st.columns([5, 1], vertical_alignment="center")
        name.markdown(f"{position}. `{run.name}`")
        button.button("Cancel", key=f"cancel-{run.name}", on_click=cancel, args=(run.name,))


def cancel(name: str) -> None:
    """Button callback: take a run out of the queue (it may have started or gone meanwhile: then nothing)."""
    with contextlib.suppress(RunError):
        launcher().cancel(Run.open(name))


def delete_view(runs: list[Run]) -> None:
    """Pick a run and delete it after a confirmation; the launcher refuses while it trains or waits."""
    names = [run.name for run in runs]
    if st.session_state.get(PICK) not in names:
        st.session_state.pop(PICK, None)
    with st.expander("Delete a run"):
        name = st.selectbox("Run to delete", names, key=PICK)
        if st.session_state.get(CONFIRM) == name:
            st.warning(f"Delete run `{name}` with its vectors, checkpoint and metrics? This cannot be undone.")
            upload = upload_left_alone(next(run for run in runs if run.name == name), runs)
            if upload is not None:
                st.checkbox(
                    f"Also delete its uploaded corpus {literal(upload.name.split('-', 1)[-1])}: no other run uses it",
                    key=DELETE_UPLOAD,
                )
            yes, no = st.columns(2)
            yes.button("Yes, delete it", type="primary", on_click=delete, args=(name,))
            no.button("Keep it", on_click=keep)
        else:
            st.button("Delete…", on_click=ask, args=(name,))


def ask(name: str) -> None:
    """Button callback: ask for confirmation, unless the run cannot be deleted now."""
    try:
        launcher().check_deletable(Run.open(name))
    except RunError as exc:
        st.session_state[MESSAGE] = ("error", f"Not deleted: {exc}")
        return
    st.session_state[CONFIRM] = name


def keep() -> None:
    st.session_state.pop(CONFIRM, None)


def delete(name: str) -> None:
    """Button callback: delete the confirmed run."""
    st.session_state.pop(CONFIRM, None)
    try:
        run = Run.open(name)
        upload = upload_left_alone(run) if st.session_state.pop(DELETE_UPLOAD, False) else None
        launcher().delete(run)
        if upload is not None:
            upload.unlink(missing_ok=True)
    except (RunError, OSError) as exc:
        st.session_state[MESSAGE] = ("error", f"Not deleted: {exc}")
        return
    also = " and its uploaded corpus" if upload is not None else ""
    st.session_state[MESSAGE] = ("success", f"Deleted run {name}{also}.")


def show_delete_message() -> None:
    """The outcome of the last Delete, once (drawn even when no run is left to list)."""
    kind, text = st.session_state.pop(MESSAGE, (None, ""))
    if kind == "error":
        st.error(literal(text))
    elif kind == "success":
        st.success(literal(text))
