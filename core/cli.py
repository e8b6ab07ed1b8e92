"""Command line: `python -m core train | stop | neighbors | evaluate | export | settings | bench`.

Wherever a run is asked for, its name under the runs folder (`--run-dir`, else $W2V_RUNS_DIR, else ./runs)
or the path of its folder will do, so the path `train` prints works from any working directory.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from core import distributed
from core.config import SCHEMA, ConfigError, Setting, TrainConfig, settings_table
from core.data.checks import check_corpus
from core.data.corpora import CorpusError, Sentences
from core.data.vocab import UNK, VocabError
from core.device import DeviceError
from core.explore.evaluate import EvaluationError, Report, full_report, save_evaluation
from core.explore.export import FORMATS, ExportError, export_vectors, projector_paths
from core.explore.vector_files import VectorFileError, read_vectors
from core.explore.vectors import MAX_NEIGHBOURS, TABLES, Embeddings, UnknownWordError
from core.job import RunSummary, train_run
from core.runs import MetricRow, Run, RunError, check_resumable
from core.trainer import Trainer, TrainingError

USER_ERRORS = (
    ConfigError,
    CorpusError,
    DeviceError,
    EvaluationError,
    ExportError,
    RunError,
    TrainingError,
    UnknownWordError,
    VectorFileError,
    VocabError,
)

RUN_HELP = "a run's name under the runs folder, or the path of its folder (as `train` prints it)"
FILE_KINDS = "word2vec/GloVe text, .bin, or the Projector's vectors.tsv (its metadata.tsv beside it) or their zip"
BAR_FORMAT = "{l_bar}{bar}| {n:.2f}/{total} epochs [{elapsed}<{remaining}{postfix}]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Word2Vec Studio command line")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train skip-gram word2vec and save a run")
    add_setting_flags(train)
    add_run_dir(train)
    train.add_argument("--name", help="run name (default: date, corpus and mode)")
    train.add_argument("--resume", metavar="RUN", help="resume a stopped or interrupted run (its name or folder)")
    train.add_argument("--data-dir", help="folder or file with ptb.zip (default: $W2V_DATA_DIR, then the cache)")

    stop = sub.add_parser("stop", help="ask the process(es) training a run to stop after the current step")
    stop.add_argument("run", help=RUN_HELP)
    add_run_dir(stop)

    neighbors = sub.add_parser("neighbors", help="nearest neighbours of a word by cosine similarity")
    neighbors.add_argument("run", metavar="RUN_OR_VECTORS_FILE", help=f"{RUN_HELP}; or a vectors file ({FILE_KINDS})")
    add_run_dir(neighbors)
    neighbors.add_argument("word")
    neighbors.add_argument("-k", type=_neighbour_count, default=10, help=f"how many neighbours (1 to {MAX_NEIGHBOURS})")
    neighbors.add_argument("--table", choices=TABLES, default="center")

    evaluate = sub.add_parser("evaluate", help="WordSim353, SimLex999 and Google analogies of a run or vectors file")
    evaluate.add_argument("target", metavar="RUN_OR_VECTORS_FILE", help=f"a run, or a vectors file ({FILE_KINDS})")
    add_run_dir(evaluate)
    evaluate.add_argument("--oov", action="store_true", help="list the word pairs left out as out of vocabulary")
    evaluate.add_argument("--limit", type=_positive, help="evaluate only the first N words (the most frequent)")
    evaluate.add_argument("--table", choices=TABLES, default="center")

    export = sub.add_parser("export", help="write a run's vectors to a file (<unk> is left out)")
    export.add_argument("run", help=RUN_HELP)
    add_run_dir(export)
    export.add_argument("out", type=Path, help="file to write; for --format projector, a folder")
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="word2vec",
        help="word2vec text, word2vec binary, or projector: OUT/vectors.tsv and OUT/metadata.tsv "
        "for projector.tensorflow.org",
    )
    export.add_argument("--table", choices=TABLES, default="center")

    sub.add_parser("settings", help="print the settings table of the README (generated from core.config.SCHEMA)")
    sub.add_parser("bench", help="side-by-side speed and quality benchmark (python -m core bench --help)")
    return parser


def add_run_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="folder holding the runs (default: $W2V_RUNS_DIR, else ./runs)")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting of the schema, its help stating the range and the default; absent flags stay None."""
    defaults = TrainConfig()
    group = parser.add_argument_group("settings (core.config.SCHEMA)")
    for setting in SCHEMA.values():
        default = getattr(defaults, setting.name)
        if isinstance(default, bool):
            group.add_argument(
                setting.cli_flag, dest=setting.name, action="store_true", default=None, help=setting.described()
            )
            continue
        kind = type(default)
        metavar = None if setting.choices else {int: "N", float: "X"}.get(kind, "TEXT")
        group.add_argument(
            setting.cli_flag,
            dest=setting.name,
            type=kind,
            choices=setting.choices or None,
            metavar=metavar,
            default=None,
            help=flag_help(setting, default),
        )


def flag_help(setting: Setting, default: object) -> str:
    """`Epochs (passes), the book's num_epochs: passes over the corpus; 1 to 1000, default 5; may change on
    --resume`."""
    where = "" if setting.form else "; command line only"
    resume = "; may change on --resume" if setting.resumable else ""
    limits = f"{setting.range_text()}, " if setting.low is not None else ""
    return f"{setting.described()}; {limits}default {default}{resume}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from core.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "train": cmd_train,
            "stop": cmd_stop,
            "neighbors": cmd_neighbors,
            "evaluate": cmd_evaluate,
            "export": cmd_export,
            "settings": cmd_settings,
        }
        return commands[args.command](args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only folder, a full disk, a file deleted meanwhile
        print(f"error: {disk_message(exc)}", file=sys.stderr)
        return 2


def disk_message(exc: OSError) -> str:
    """One line for a refused file operation: what, where, and that what was saved before is kept."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"the system refused to read or write{where}: {exc.strerror or exc}; files saved before are kept"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _neighbour_count(text: str) -> int:
    value = _positive(text)
    if value > MAX_NEIGHBOURS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_NEIGHBOURS}, not {value}")
    return value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_dict(given_settings(args))


def given_settings(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in SCHEMA if getattr(args, name) is not None}


def cmd_train(args: argparse.Namespace) -> int:
    """Under torchrun, every process runs this; rank 0 creates or opens the run and shares its folder.

    The training (`train_run`) takes the run's lock and reads its settings: a second process asked to
    train a run that one is training is refused at once, naming the run; a resume that fails before it
    saves an epoch leaves the run as it was.
    """
    world = distributed.start()
    try:
        if not world.is_main:
            return _train(args, world, Run(distributed.shared_path(world, None)))
        run, sentences = _open_or_create_run(args)
        return _train(args, world, Run(distributed.shared_path(world, run.path)), sentences)
    finally:
        distributed.finish()


def _open_or_create_run(args: argparse.Namespace) -> tuple[Run, Sentences | None]:
    """The run to train, and for a new one the corpus its check read (the training reads it no more)."""
    if args.resume:
        run = Run.open(args.resume, args.run_dir)
        check_resume_flags(args)
        return run, None
    return new_run(config_from_args(args), args.name, args.run_dir, args.data_dir)


def new_run(
    cfg: TrainConfig, name: str | None, run_dir: str | Path | None, data_dir: str | Path | None
) -> tuple[Run, Sentences]:
    """A new run folder for `cfg` and the corpus its check read; a bad corpus or setting is refused before
    a folder exists. A name that sanitising changes is reported on stderr."""
    sentences = check_corpus(cfg, data_dir)
    run = Run.create(cfg, name, run_dir)
    if name is not None and run.name != name:
        print(f"run name {name!r} is stored as {run.name!r}: {run.path}", file=sys.stderr)
    return run, sentences


def check_resume_flags(args: argparse.Namespace) -> None:
    """Refuse flags a resume cannot honour; the training refuses, under the run's lock, what it would undo."""
    ignored = [flag for flag, given in (("--lowercase", args.lowercase), ("--name", args.name)) if given]
    if ignored:
        raise RunError(f"{' and '.join(ignored)} cannot be given with --resume: a run keeps its corpus and name")
    check_resumable(given_settings(args))


def _train(args: argparse.Namespace, world: distributed.World, run: Run, sentences: Sentences | None = None) -> int:
    stop = threading.Event()
    _stop_on_ctrl_c(stop)
    # Bars on rank 0's terminal only: a process the app launched writes to its log file instead.
    summary = train_with_bars(
        run,
        stop,
        bool(args.resume),
        args.data_dir,
        sentences,
        given_settings(args) if args.resume else None,
        bars=False if not world.is_main else None,
    )
    if world.is_main:
        print_summary(summary)
    return 0


def train_with_bars(
    run: Run,
    stop: threading.Event,
    resume: bool = False,
    data_dir: str | Path | None = None,
    sentences: Sentences | None = None,
    changes: dict[str, object] | None = None,
    bars: bool | None = True,
) -> RunSummary:
    """`train_run` with tqdm bars for the epochs (loss, raw tokens/s), a download and a tokenising;
    `bars` None shows them on a terminal only."""
    quiet = None if bars is None else not bars
    bar = LazyBar(bar_format=BAR_FORMAT, disable=quiet)

    epochs = 0

    def begin(trainer: Trainer) -> None:
        nonlocal epochs
        epochs = trainer.cfg.epochs
        for notice in trainer.notices:
            print(notice, file=sys.stderr)

    def show(row: MetricRow) -> None:
        bar.update(row.fraction * epochs, epochs)
        bar.postfix(loss=f"{row.loss:.4f}", tok_s=f"{row.tokens_per_s:,.0f}")

    download = LazyBar(desc="downloading ptb.zip", unit="B", unit_scale=True, disable=quiet)
    tokenise = LazyBar(desc="tokenising the corpus (once)", unit="B", unit_scale=True, disable=quiet)
    try:
        return train_run(
            run,
            [show],
            stop,
            resume,
            data_dir,
            download.update,
            begin,
            store_progress=tokenise.update,
            sentences=sentences,
            changes=changes,
        )
    finally:
        download.close()
        tokenise.close()
        bar.close()


class LazyBar:
    """A tqdm bar that appears only once progress is reported (a download, a large vectors file)."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.bar: tqdm | None = None

    def update(self, done: float, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total or None, **self.options)
        self.bar.update(done - self.bar.n)

    def postfix(self, **values: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stop_on_ctrl_c(stop: threading.Event) -> None:
    """First Ctrl-C stops after the current step (resumable); a second one aborts at once."""

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nstopping after the current step; press Ctrl-C again to abort", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)


def print_summary(summary: RunSummary) -> None:
    outcome = summary.outcome
    seconds = max(outcome.train_seconds, 1e-9)
    for i, loss in enumerate(outcome.epoch_losses, 1):
        print(f"epoch {i}: loss {loss:.4f}")
    print(f"mean loss over {len(outcome.epoch_losses)} epochs: {summary.mean_loss:.4f}")
    print(f"data preparation: {summary.prepare_seconds:.2f} s")
    print(f"training: {outcome.train_seconds:.2f} s on {summary.device} for {outcome.epochs_run} epoch(s)")
    print(f"centers per second: {outcome.centers / seconds:,.0f}")
    print(f"raw corpus tokens per second: {summary.raw_tokens * outcome.epochs_run / seconds:,.0f}")
    state = "stopped (resume with --resume)" if outcome.stopped else "finished"
    print(f"run {state}: {summary.run.path}")


def cmd_settings(args: argparse.Namespace) -> int:
    print(settings_table(), end="")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    run = Run.open(args.run, args.run_dir)
    if not run.is_training():
        print(f"run {run.name} is not training: nothing to stop ({run.path})")
        return 0
    run.request_stop()
    print(f"asked run {run.name} to stop after its current step; resume it with --resume {run.path}")
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    embeddings, _ = _vectors_of(args.run, args.run_dir)
    for word, cosine in embeddings.neighbors(args.word, args.k, args.table):
        print(f"{word}\t{cosine:.4f}")
    return 0


def _vectors_of(target: str, run_dir: str | None, limit: int | None = None) -> tuple[Embeddings, Run | None]:
    """A path to a file is a vectors file (its first `limit` words); anything else names a run (returned too)."""
    if not Path(target).is_file():
        run = Run.open(target, run_dir)
        return _first_words(Embeddings.from_run(run), limit), run
    bar = LazyBar(desc="reading vectors", unit=" words", unit_scale=True)
    try:
        return read_vectors(target, limit, bar.update), None
    finally:
        bar.close()


def cmd_evaluate(args: argparse.Namespace) -> int:
    """A run's report is saved with it; a vectors file's is printed only."""
    embeddings, run = _vectors_of(args.target, args.run_dir, args.limit)
    report = full_report(embeddings, args.table, args.oov, source=str(run.path if run else args.target))
    print_report(report, args.oov)
    if run is not None and args.limit is not None:
        print(f"not saved: a report of the first {args.limit} words would replace the run's report of all its words")
    elif run is not None:
        save_evaluation(run, report)
        print(f"saved with run {run.name} (the {args.table} table's report)")
    return 0


def _first_words(embeddings: Embeddings, limit: int | None) -> Embeddings:
    """The `limit` most frequent words of a run (its vocabulary is sorted by count), `<unk>` not counted."""
    if limit is None:
        return embeddings
    rows = [i for i, w in enumerate(embeddings.words) if w != UNK][:limit]
    tables = (embeddings.center, embeddings.context, embeddings.counts)
    return Embeddings([embeddings.words[i] for i in rows], *(None if t is None else t[rows] for t in tables))


def print_report(report: Report, with_oov: bool) -> None:
    print(f"{report.source}: {report.words} words, dimension {report.dim}, {report.table} table")
    for pairs in report.pairs:
        value = "n/a" if pairs.spearman is None else f"{pairs.spearman:.4f}"
        print(f"{pairs.name:<11} Spearman {value:>7}  ({pairs.covered}/{pairs.total} pairs covered)")
        if with_oov and pairs.oov:
            print(f"  out of vocabulary: {', '.join(f'{a}-{b}' for a, b in pairs.oov)}")
    print(f"{'analogies':<28} {'questions':>13} {'3CosAdd':>8} {'3CosMul':>8}")
    for row in report.analogy_rows():
        covered = f"{row['questions']}/{row['in the set']}"
        print(f"{row['section']:<28} {covered:>13} {_percent(row['3CosAdd']):>8} {_percent(row['3CosMul']):>8}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def cmd_export(args: argparse.Namespace) -> int:
    embeddings = Embeddings.from_run(Run.open(args.run, args.run_dir))
    count = export_vectors(embeddings, args.out, args.format, args.table)
    where = " and ".join(map(str, projector_paths(args.out))) if args.format == "projector" else args.out
    print(f"wrote {count} vectors of dimension {embeddings.center.shape[1]} ({args.format}) to {where}")
    return 0
