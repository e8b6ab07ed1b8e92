"""Train page: pick a corpus and hyperparameters, start a training process, watch its loss and neighbours live.

The page never trains: the launcher starts a process per run, and the page reads what that process
appends to the run's metrics (only the new rows at each poll), including the watch words' neighbours.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.config import ConfigError, TrainConfig
from core.explore.vectors import default_watch_words, parse_words, watch_words
from core.runs import MetricsReader, Run, RunError, Status, list_runs, save_upload
from core.runs.launcher import Launcher
from core.runs.records import WordListError
from pages.parts.charts import LossView, loss_figure
from pages.parts.common import (
    CURRENT_RUN,
    browser_feed,
    embeddings,
    launcher,
    loss_view,
    metrics,
    queryable,
    require_app,
    safe_status,
)
from pages.parts.jobs import queue_view
from pages.parts.live import (
    NO_STEPS_YET,
    NO_WATCH_YET,
    RANKS_HEADER,
    SPEED_CAPTION,
    WATCH_HEADER,
    figures,
    live_panel,
    phase,
    points_logged,
    progress_text,
    ranks_caption,
    share_done,
    watch_rows,
)
from pages.parts.text import literal
from pages.parts.train_form import (
    WATCH_DEFAULT,
    clear_field_error,
    collect_settings,
    corpus_from_form,
    fetch_ptb,
    held,
    keep_settings,
    note_field_error,
    restore_settings,
    settings_form,
)

POLL_S = 1.0  # a poll reads only new rows; less often leaves the cores to the training process
REFUSED = "start_refused"  # a Start was refused: the shown run's result box steps aside until the user picks a run
WHOLE_PAGE = "train_whole_page"  # a button of the runs area asks for the form to be redrawn too
WATCH_AUTO = "watch_auto"  # the watch words this page chose for the shown run, replaced when another run shows
FOLLOW = "train_follow"  # the run to show next: the one that took the slot of the run the page followed
# Whether the form is open, decided once per session (open unless a run trains): an `expanded` that changed
# between reruns (closed once a Start's run trained) made the browser fold the form at the user's next edit.
FORM_OPEN = "train_form_open"


def buttons(reg: Launcher, shown: Run | None, now: str) -> None:
    """Start a new run (queued while the slots are busy); Stop (or take out of the queue) or Resume the shown run.

    `now` is the shown run's phase as the panel below draws it: Stop and Resume follow it, not a second look, as a
    process that lets go of its run in between would leave Resume greyed under an ended run's view, which
    nothing redraws."""
    left, mid, right, _ = st.columns([1, 1, 1, 3])
    busy = len(reg.live_runs()) >= reg.max_jobs
    left.button(
        "Start",
        type="primary",
        on_click=start,
        help="queues the run: it starts when the training in progress ends" if busy else "train with these settings",
    )
    mid.button(
        "Stop",
        on_click=stop,
        disabled=shown is None or now == "ended",
        help="stop after the current step (resumable); a queued run leaves the queue",
    )
    right.button("Resume", on_click=resume, disabled=not resumable(shown, now))


def start() -> None:
    """Button callback: check the settings and the corpus, then train in the background or queue (or say why not).

    The launcher reads the corpus before it creates the run, so a refused start leaves no run folder;
    an upload saved for it alone is removed too. PTB that is not on this machine is fetched first (from the
    path given, else downloaded), so an offline Start is refused too, saying how to give a copy.
    """
    clear_messages()
    upload, fresh = None, False
    try:
        if st.session_state["cfg_corpus"] == "upload":
            upload, fresh = save_session_upload()
            corpus = str(upload)
        else:
            corpus = corpus_from_form()
        cfg = TrainConfig.from_dict({**collect_settings(), "corpus": corpus})
        if cfg.corpus == "ptb":
            fetch_ptb(launcher().data_dir)
        asked = st.session_state.get("run_name") or None
        run = launcher().start(cfg, name=asked, processes=processes(), watch=current_watch_words())
    except (ConfigError, RunError, ValueError, OSError) as exc:
        if upload is not None and fresh:
            upload.unlink(missing_ok=True)
        st.session_state["train_error"] = f"Nothing was started. {user_message(exc, upload)}"
        st.session_state[REFUSED] = True
        st.session_state[WHOLE_PAGE] = True  # the form shows the error under its field
        note_field_error(exc)
        return
    if asked is not None and run.name != asked:
        kept = "run names keep letters, digits, '.', '_' and '-', and a taken name gets a number"
        st.session_state["train_notice"] = f"The run is saved as {run.name} ({kept})."
    reg = launcher()
    live = reg.live_runs()
    show(live[0] if live and reg.position(run) is not None else run)  # a queued run waits in the queue list


def check_ahead(reg: Launcher) -> None:
    """Let the launcher read the chosen corpus now, while the user looks at the form, so that Start need
    not wait for it (an upload is saved, and read, only when Start is pressed)."""
    if st.session_state.get("cfg_corpus") == "upload":
        return
    try:
        cfg = TrainConfig.from_dict({**collect_settings(), "corpus": corpus_from_form()})
    except (ConfigError, ValueError, OSError):
        return  # Start says what is wrong
    reg.check_ahead(cfg)


def user_message(exc: Exception, upload: Path | None = None) -> str:
    """The error as a sentence for a person: capitalised, naming an upload by the file name the user gave,
    never by where the server saved it (`<runs>/uploads/<hash>-image.txt` reads `image.txt`)."""
    text = exc.sentence() if isinstance(exc, ConfigError) else disk_or_message(exc)
    given = st.session_state["upload"].name if upload is not None else ""
    if upload is not None:
        for where in (str(upload.resolve()), str(upload), upload.name):
            text = text.replace(where, given)
    return text if given and text.startswith(given) else text[:1].upper() + text[1:]


def processes() -> int:
    """The form's process count; anything but a whole number is refused with the field named."""
    value = st.session_state.get("cfg_processes", 1)
    if isinstance(value, float) and not value.is_integer():
        raise ConfigError("processes", f"{value} is not a whole number of processes")
    return int(value)


def save_session_upload() -> tuple[Path, bool]:
    """Keep the uploaded file under `<runs root>/uploads/` (see `core.runs.save_upload`)."""
    upload = st.session_state.get("upload")
    if upload is None:
        raise ValueError("Choose a text file to upload first.")
    return save_upload(upload.name, upload.getvalue())


def current_watch_words() -> list[str]:
    """The typed watch words; none while the list is past its bounds (`watch_words_box` says why)."""
    try:
        return parse_words(st.session_state.get("watch_words", WATCH_DEFAULT), "watch words")
    except WordListError:
        return []


def watch_words_box() -> None:
    st.text_input("Watch words (comma separated)", held("watch_words"), key="watch_words")
    try:
        parse_words(st.session_state["watch_words"], "watch words")
    except WordListError as exc:
        st.warning(literal(f"No words are watched: {exc}."))


def clear_messages() -> None:
    if st.session_state.pop(REFUSED, None):
        st.session_state[WHOLE_PAGE] = True  # the form still shows the refused setting's message
    st.session_state.pop("train_error", None)
    st.session_state.pop("train_notice", None)
    clear_field_error()


def disk_or_message(exc: Exception) -> str:
    """One line for an error; a refused file operation (read-only folder, full disk) says where."""
    if isinstance(exc, OSError):
        return f"The system refused to write {exc.filename or ''}: {exc.strerror or exc}. Files saved before are kept."
    return str(exc)


def stop() -> None:
    run = current_run()
    if run is not None:
        launcher().stop(run)


def resume() -> None:
    run = current_run()
    clear_messages()
    if run is None:
        return
    try:
        if run.config().corpus == "ptb":
            fetch_ptb(launcher().data_dir)
        launcher().resume(run, processes=processes())
    except (ConfigError, RunError, ValueError, OSError) as exc:
        st.session_state["train_error"] = user_message(exc)


def resumable(run: Run | None, now: str) -> bool:
    """A run that ended early (it is neither training nor queued); one that never trained simply starts afresh."""
    return run is not None and now == "ended" and safe_status(run).state in ("stopped", "interrupted", "failed")


def show(run: Run) -> None:
    st.session_state["shown_run"] = run.name
    st.session_state[CURRENT_RUN] = run.name


def current_run() -> Run | None:
    name = st.session_state.get("shown_run")
    try:
        return Run.open(name) if name else None
    except RunError:
        return None


def pick_shown_run(reg: Launcher) -> Run | None:
    """The run on screen: the user's last choice, else the live one, else the newest on disk.

    A run deleted meanwhile (on Home, maybe by another session) is named in a warning, once.
    """
    names = [r.name for r in list_runs()]
    follow = st.session_state.pop(FOLLOW, None)
    if follow in names:
        st.session_state["shown_run"] = follow
    wanted = st.session_state.get("shown_run") or st.session_state.get(CURRENT_RUN)
    if wanted and wanted not in names:
        st.warning(f"Run {wanted} no longer exists: it was deleted.")
        st.session_state.pop("shown_run", None)
        st.session_state.pop(CURRENT_RUN, None)
    if not names:
        return None
    if st.session_state.get("shown_run") not in names:
        live = [r.name for r in reg.live_runs()]
        remembered = st.session_state.get(CURRENT_RUN)
        st.session_state["shown_run"] = remembered if remembered in names else (live or names)[0]
    name = st.selectbox("Showing run", names, key="shown_run", on_change=clear_messages)
    st.session_state[CURRENT_RUN] = name
    try:
        return Run.open(name)
    except RunError as exc:  # deleted between the listing and now
        st.warning(literal(exc))
        return None


def show_state(status: Status) -> None:
    """The state of a run that no longer trains or waits (the live panel says it while it does)."""
    state, message = status.state, status.message
    if state == "finished":
        st.success(
            f"Finished {status.epochs_done} epochs in {status.train_seconds or 0:.1f} s; "
            f"mean loss {status.mean_loss if status.mean_loss is not None else float('nan'):.4f}, "
            f"vocabulary {status.vocab_size} words, device {status.device}."
        )
        if message:  # how it trained, e.g. a GPU kernel passed over for the tensor engine
            st.info(literal(message))
    elif state == "failed":
        st.error(f"Training failed: {literal(message)}")
    elif state == "damaged":
        st.error(f"This run is damaged and cannot be shown: {literal(message)}")
    elif state in ("stopped", "interrupted"):
        st.warning(f"{state.capitalize()}: {literal(message)}")
    else:
        st.info("Waiting to start")


def show_progress(reader: MetricsReader, epochs: int, state: str, view: LossView) -> None:
    """The live panel's figures, for a run that ended, with the interactive loss chart."""
    last = reader.last
    if last is None:
        st.caption(NO_STEPS_YET)
        return
    st.progress(share_done(last), text=progress_text(last, state))
    shown = figures(last, epochs)
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, value)
    st.caption(SPEED_CAPTION)
    st.plotly_chart(loss_figure(reader, epochs, view), width="stretch")
    st.caption(points_logged(reader))
    if last.rank_tokens_per_s:
        ranks = list(last.rank_tokens_per_s)
        st.caption(ranks_caption(ranks))
        rank, tokens = RANKS_HEADER
        frame = pd.DataFrame({rank: range(len(ranks)), tokens: ranks})
        st.dataframe(frame, hide_index=True, column_config={tokens: st.column_config.NumberColumn(format="%.0f")})


def show_watch(run: Run, words: list[str]) -> None:
    """Top-5 neighbours of the watch words in the saved vectors of a run that ended."""
    if not queryable(run):
        st.caption(NO_WATCH_YET)
        return
    try:
        results = watch_words(embeddings(run), words)
    except RunError as exc:
        st.warning(literal(exc))
        return
    st.dataframe(pd.DataFrame(watch_rows(results), columns=WATCH_HEADER), hide_index=True, width="stretch")


def pass_watch_words(run: Run, words: list[str]) -> None:
    if run.watch_words()[0] != words:
        run.set_watch_words(words)  # the training process picks the new words up at its next event


def follow_run_watch_words(run: Run | None) -> None:
    """Watch words the user has not typed follow the shown run: the defaults its vocabulary lacks give way
    to its own frequent content words (a small corpus has no "chip"). Called before the box is drawn."""
    auto = st.session_state.get(WATCH_AUTO, WATCH_DEFAULT)
    if run is None or st.session_state.get("watch_words") not in (WATCH_DEFAULT, auto):
        return
    try:
        tokens = run_vocabulary(str(run.path))
    except (RunError, OSError, ValueError):
        tokens = []  # no vocabulary yet (a queued run): the defaults stay
    words = ", ".join(default_watch_words(tokens, parse_words(WATCH_DEFAULT))) if tokens else WATCH_DEFAULT
    st.session_state["watch_words"] = st.session_state[WATCH_AUTO] = words


@st.cache_data(max_entries=16, show_spinner=False)
def run_vocabulary(path: str) -> list[str]:
    """A run's vocabulary, most frequent first; it never changes once written (an error is not cached)."""
    return Run(Path(path)).vocab().idx_to_token


def run_panel(run: Run, reg: Launcher, began: str) -> None:
    """The live part of the page; it follows the run while it trains or waits, and redraws the whole page when
    its phase changes: when it starts after waiting (the queue list changes) and when it ends. A run that
    ends while another waits or trains gives the page to that one, so the page follows the queue.

    A browser on this machine follows it by itself (`pages.parts.live`), which costs the training
    nothing noticeable; elsewhere this fragment polls, at a cost of about a quarter of a core of the
    browser's on two cores, as Streamlit's browser side rebuilds the page at every rerun. `began` is the run's
    phase when the page around it was drawn."""
    feed = browser_feed() if began != "ended" else None
    view = loss_view("loss")

    @st.fragment(run_every=POLL_S if began != "ended" and feed is None else None)
    def panel() -> None:
        if not run.path.is_dir():
            st.warning(f"Run {run.name} no longer exists: it was deleted.")
            return
        status = safe_status(run)
        now = phase(reg, run, status)
        if now != began:
            if now == "ended":
                follow_queue(reg, run, status)
            st.rerun()
        if now != "ended":
            pass_watch_words(run, current_watch_words())
            live_panel(run, metrics(run), status, reg, feed, view)
            return
        show_ended(run, status, view)

    panel()


def follow_queue(reg: Launcher, ended: Run, status: Status) -> None:
    """The run the page followed has ended: show the run that trains or waits next, if any, and say so."""
    names = [r.name for r in (*reg.live_runs(), *reg.queued_runs()) if r.name != ended.name]
    if names:
        st.session_state[FOLLOW] = names[0]
        how = status.state if status.state in ("finished", "stopped", "failed") else "ended"
        st.session_state["train_notice"] = f"Run {ended.name} {how}; now showing run {names[0]}, next in the queue."


def show_ended(run: Run, status: Status, view: LossView) -> None:
    show_state(status)
    try:
        epochs = run.config().epochs
    except (RunError, ConfigError) as exc:
        st.error(literal(exc))
        return
    show_progress(metrics(run), epochs, status.state, view)
    st.subheader("Watch words")
    show_watch(run, current_watch_words())


@st.fragment
def runs_area(reg: Launcher) -> None:
    """Everything below the form. A fragment: Start, Stop and Resume redraw this part alone, not the form,
    which took the browser about two CPU-seconds on two cores right as the run began; a refused Start
    redraws the whole page, so that the error shows under its field."""
    if st.session_state.pop(WHOLE_PAGE, False):
        st.rerun()
    shown = pick_shown_run(reg)
    now = phase(reg, shown, safe_status(shown)) if shown else "ended"  # one look, for the buttons and the panel
    buttons(reg, shown, now)
    if "train_error" in st.session_state:
        st.error(literal(st.session_state["train_error"]))
    if "train_notice" in st.session_state:
        st.info(literal(st.session_state["train_notice"]))
    queue_view(reg)
    follow_run_watch_words(shown)
    watch_words_box()
    if shown is None:
        st.info("No runs yet: choose a corpus and press Start.")
    elif st.session_state.get(REFUSED) and now == "ended":
        st.button(f"Show run {shown.name}", on_click=clear_messages, help="the refused start changed no run")
    else:
        run_panel(shown, reg, now)


require_app("train")
st.title("Train")
st.write(
    "Train skip-gram with negative sampling in a background process; this page follows the loss and neighbours live."
)
reg = launcher()
restore_settings()
with st.expander("Corpus and hyperparameters", expanded=st.session_state.setdefault(FORM_OPEN, not reg.live_runs())):
    settings_form()
check_ahead(reg)
keep_settings()
runs_area(reg)
