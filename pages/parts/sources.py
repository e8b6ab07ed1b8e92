"""Where an explorer page's vectors come from: a training run, or a vectors file the user imports.

Imported files (an upload, a path on this machine, or gensim's bundled GloVe sample) are listed beside the
runs in every explorer page of the session. Their vectors live in a small process-wide store, so a second
page or tab does not read a large file again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.explore.projection import vectors_stamp
from core.explore.vector_files import VectorFileError, read_vectors
from core.explore.vectors import Embeddings
from core.runs import Run, RunError, list_runs, sanitize_name, save_upload
from pages.parts.common import CURRENT_RUN, embeddings, queryable, require_app, safe_status
from pages.parts.text import literal

IMPORTS = "imported_files"  # session key: the Imported files of this session, newest last
KEPT_IN_MEMORY = 3  # imported files whose vectors stay loaded in this process
DEFAULT_LIMIT = 50_000
SAMPLE_NAME = "test_glove.txt"
FILE_PREFIX = "file: "  # run names cannot contain ': ', so picker values of files never clash with runs
CURRENT_SOURCE = "current_source"  # the run or file last explored, shared by the explorer pages; `CURRENT_RUN`
# (shared with Train) only ever holds run names


@dataclass(frozen=True)
class Imported:
    """A vectors file on this machine and how many of its first words to load."""

    path: str
    limit: int
    label: str

    @property
    def key(self) -> tuple:
        """Identifies these exact vectors: a changed or replaced file gets a new key."""
        stat = Path(self.path).stat()
        return (str(Path(self.path).resolve()), stat.st_mtime_ns, stat.st_size, self.limit)


@dataclass(frozen=True)
class Source:
    """The vectors a page explores, with a key that changes whenever they do (for caches)."""

    name: str
    key: tuple
    run: Run | None = None
    imported: Imported | None = None

    @property
    def file_stem(self) -> str:
        """A safe base for download file names."""
        return sanitize_name(self.name.removeprefix(FILE_PREFIX))

    def embeddings(self) -> Embeddings:
        if self.run is not None:
            return embeddings(self.run)
        assert self.imported is not None
        return load_imported(self.imported)


@st.cache_resource
def _store() -> tuple[threading.Lock, OrderedDict[tuple, Embeddings]]:
    return threading.Lock(), OrderedDict()


def load_imported(imported: Imported) -> Embeddings:
    """The file's first `limit` words, read once per process with a progress bar; the oldest files are let go."""
    lock, store = _store()
    key = imported.key
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    bar = st.progress(0.0, text=f"Reading {literal(imported.label)}…")

    def progress(done: int, total: int) -> None:
        of = min(total or imported.limit, imported.limit)
        bar.progress(min(done / of, 1.0), text=f"Reading {literal(imported.label)}: {done:,} of {of:,} words")

    loaded = read_vectors(imported.path, imported.limit, progress)
    bar.empty()
    with lock:
        store[key] = loaded
        while len(store) > KEPT_IN_MEMORY:
            store.popitem(last=False)
    return loaded


def sample_path() -> str:
    """gensim's bundled 300-word GloVe sample, a vectors file every machine with gensim has."""
    from gensim.test.utils import datapath

    return datapath(SAMPLE_NAME)


def add_import(path: str, label: str, limit: int, picker: str) -> None:
    """Read the file now (so errors show at once) and list it in this session's pickers, selected in `picker`
    (the page's select box, drawn after this) and in the explorer pages visited next."""
    if not Path(path).is_file():
        raise VectorFileError(f"{path} is not a file on this machine; check the path")
    imported = Imported(path, limit, f"{label} (first {limit:,} words)")
    load_imported(imported)
    files = [f for f in st.session_state.get(IMPORTS, []) if f.label != imported.label]
    st.session_state[IMPORTS] = [*files, imported]
    st.session_state[picker] = st.session_state[CURRENT_SOURCE] = FILE_PREFIX + imported.label


def requested_file(upload, path: str) -> tuple[str, str, bool] | None:
    """(path, label, saved now) of the file to import: an upload is saved under `imports/` first (saved now:
    this call wrote it, so a failed import removes it again); None after saying what is missing."""
    if upload is not None:
        saved, fresh = save_upload(upload.name, upload.getvalue(), folder="imports")
        return str(saved), upload.name, fresh
    if path:
        return path, path, False
    st.warning("Choose a file to upload or type a path first.")
    return None


def import_panel(picker: str) -> None:
    """Upload a file, give a path on this machine, or take gensim's sample; N words; clear errors."""
    with st.expander("Import a vectors file (word2vec, GloVe, fastText .vec, word2vec binary, Projector TSV)"):
        upload = st.file_uploader(
            "Upload",
            ["txt", "vec", "bin", "tsv", "zip"],
            key="import_upload",
            help="the Embedding Projector's pair: its vectors.tsv (rows named by number), or a zip holding "
            "vectors.tsv and metadata.tsv, as the Neighbours page downloads it; a path reads the metadata.tsv "
            "beside a vectors.tsv",
        )
        path = st.text_input("…or a path on this machine", key="import_path").strip()
        limit = st.number_input(
            "Load the first N words",
            10,
            10_000_000,
            DEFAULT_LIMIT,
            step=10_000,
            key="import_limit",
            help="files list the most frequent words first; memory grows with N × dimensions",
        )
        left, right = st.columns(2)
        chosen = None
        try:
            if left.button("Import", type="primary"):
                chosen = requested_file(upload, path)
            if right.button(f"Use gensim's sample ({SAMPLE_NAME})"):
                chosen = (sample_path(), SAMPLE_NAME, False)
        except OSError as exc:  # the upload could not be kept: a read-only or full disk
            st.error(f"Could not keep the upload: {literal(exc.strerror or exc)}")
        if chosen:
            file, label, fresh = chosen
            try:
                add_import(file, label, int(limit), picker)
            except (VectorFileError, ValueError, OSError) as exc:
                if fresh:  # a refused upload leaves nothing under imports/
                    Path(file).unlink(missing_ok=True)
                st.error(f"Could not import the file: {literal(exc)}")


def available_sources() -> list[Source]:
    """Runs with vectors (newest first), then this session's imported files that still exist."""
    sources = [Source(r.name, (str(r.path.resolve()), vectors_stamp(r)), run=r) for r in list_runs() if queryable(r)]
    for imported in st.session_state.get(IMPORTS, []):
        try:
            sources.append(Source(FILE_PREFIX + imported.label, imported.key, imported=imported))
        except OSError:
            continue  # the file was removed since
    return sources


def pick_source(key: str) -> Source | None:
    """A select box over runs and imported files, remembering the choice across pages."""
    import_panel(key)
    sources = {s.name: s for s in available_sources()}
    if not sources:
        st.info(
            "No run has vectors yet. Train one on the **Train** page (vectors appear after its first epoch), "
            "or import a vectors file above."
        )
        return None
    if st.session_state.get(key) not in sources:
        remembered = [st.session_state.get(CURRENT_SOURCE), st.session_state.get(CURRENT_RUN)]
        st.session_state[key] = next((name for name in remembered if name in sources), next(iter(sources)))
    states = {name: safe_status(s.run).state for name, s in sources.items() if s.run is not None}
    name = st.selectbox(
        "Run or imported file", list(sources), key=key, format_func=lambda n: f"{n} ({states[n]})" if n in states else n
    )
    st.session_state[CURRENT_SOURCE] = name
    if sources[name].run is not None:
        st.session_state[CURRENT_RUN] = name
    return sources[name]


def source_embeddings(source: Source) -> Embeddings | None:
    """The source's vectors, or None after showing why they cannot be read (a deleted run, a damaged file)."""
    try:
        return source.embeddings()
    except (RunError, VectorFileError, OSError) as exc:
        st.error(f"Cannot read the vectors of {literal(source.name)}: {literal(exc)}")
        return None


def explorer_page(url_path: str, title: str, key: str, intro: str = "") -> tuple[Source, Embeddings] | None:
    """The common top of an explorer page: its title and introduction, the source picker (keyed `key`) and
    the chosen vectors; None when there are none to show (the page has said why)."""
    require_app(url_path)
    st.title(title)
    if intro:
        st.write(intro)
    source = pick_source(key)
    vectors = source_embeddings(source) if source else None
    return (source, vectors) if source is not None and vectors is not None else None
