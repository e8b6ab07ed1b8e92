"""Command line: `python -m core train | neighbors | evaluate | export | bench`.

Each command imports what it needs when it runs: a training process (which the app starts for
every run) loads the training code only, not evaluation, export or the vectors readers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import DEVICES, MODES, ConfigError, TrainConfig
from core.export import FORMATS
from core.query import TABLES

if TYPE_CHECKING:
    from core.data import Sentences
    from core.distributed import World
    from core.evaluate import Report
    from core.pipeline import RunSummary
    from core.query import Embeddings
    from core.runs import Run


# command-line flag -> config field
TRAIN_FLAGS = {
    "corpus": str,
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "sgd_lr": float,
    "embed_size": int,
    "window": int,
    "negatives": int,
    "min_freq": int,
    "subsample": float,
    "mode": str,
    "device": str,
    "threads": int,
    "seed": int,
    "sync_every": int,
}
FIELD_OF_FLAG = {"window": "max_window"}
BAR_FORMAT = "{l_bar}{bar}| {n:.2f}/{total} epochs [{elapsed}<{remaining}{postfix}]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Word2Vec Studio command line")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train skip-gram word2vec and save a run")
    for flag, kind in TRAIN_FLAGS.items():
        choices = MODES if flag == "mode" else DEVICES if flag == "device" else None
        train.add_argument(f"--{flag.replace('_', '-')}", type=kind, choices=choices, default=None)
    train.add_argument("--lowercase", action="store_true", help="lower-case the corpus")
    train.add_argument("--run-dir", help="folder holding the runs (default: $W2V_RUNS_DIR or ./runs)")
    train.add_argument("--name", help="run name (default: date, corpus and mode)")
    train.add_argument("--resume", metavar="RUN", help="resume a stopped or interrupted run")
    train.add_argument("--data-dir", help="folder or file with ptb.zip (default: $W2V_DATA_DIR, then the cache)")

    neighbors = sub.add_parser("neighbors", help="nearest neighbours of a word by cosine similarity")
    neighbors.add_argument("run")
    neighbors.add_argument("word")
    neighbors.add_argument("-k", type=int, default=10)
    neighbors.add_argument("--table", choices=TABLES, default="center")

    evaluate = sub.add_parser("evaluate", help="WordSim353, SimLex999 and Google analogies of a run or vectors file")
    evaluate.add_argument("target", metavar="RUN_OR_VECTORS_FILE", help="a run, or a word2vec/GloVe text or .bin file")
    evaluate.add_argument("--oov", action="store_true", help="list the word pairs left out as out of vocabulary")
    evaluate.add_argument("--limit", type=_positive, help="evaluate only the first N words (the most frequent)")
    evaluate.add_argument("--table", choices=TABLES, default="center")

    export = sub.add_parser("export", help="write a run's vectors to a file (<unk> is left out)")
    export.add_argument("run")
    export.add_argument("out", type=Path, help="file to write; for --format projector, a folder")
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="word2vec",
        help="word2vec text, word2vec binary, or projector: OUT/vectors.tsv and OUT/metadata.tsv "
        "for projector.tensorflow.org",
    )
    export.add_argument("--table", choices=TABLES, default="center")

    sub.add_parser("bench", help="side-by-side speed and quality benchmark (python -m core bench --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from core.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": cmd_train, "neighbors": cmd_neighbors, "evaluate": cmd_evaluate, "export": cmd_export}
        return commands[args.command](args)
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix, shown as one line; imported only when one is raised."""
    from core.data import CorpusError
    from core.device import DeviceError
    from core.evaluate import EvaluationError
    from core.query import UnknownWordError
    from core.runs import RunError
    from core.train import TrainingError
    from core.vectors_io import VectorFileError
    from core.vocab import VocabError

    return (
        ConfigError,
        CorpusError,
        DeviceError,
        EvaluationError,
        RunError,
        TrainingError,
        UnknownWordError,
        VectorFileError,
        VocabError,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = {FIELD_OF_FLAG.get(f, f): getattr(args, f) for f in TRAIN_FLAGS if getattr(args, f) is not None}
    if args.lowercase:
        given["lowercase"] = True
    return TrainConfig.from_dict(given)


def cmd_train(args: argparse.Namespace) -> int:
    """Under torchrun, every process runs this; rank 0 creates or opens the run, holds its lock, shares its folder.

    A second process asked to train a run that one is training is refused at once, naming the run.
    """
    from core import distributed
    from core.runs import Run

    world = distributed.start()
    try:
        if not world.is_main:
            return _train(args, world, Run(distributed.shared_path(world, None)))
        run, sentences = _open_or_create_run(args)
        with run.lock():
            if args.resume:
                _apply_changes(run, args)
            return _train(args, world, Run(distributed.shared_path(world, run.path)), sentences)
    finally:
        distributed.finish()


def _open_or_create_run(args: argparse.Namespace) -> tuple[Run, Sentences | None]:
    """The run to train, and for a new one the corpus its check read (the training reads it no more)."""
    from core.pipeline import check_corpus
    from core.runs import Run

    if args.resume:
        return Run.open(args.resume, args.run_dir), None
    cfg = config_from_args(args)
    sentences = check_corpus(cfg, args.data_dir)  # a bad corpus or setting is refused before a run folder exists
    return Run.create(cfg, args.name, args.run_dir), sentences


def _apply_changes(run: Run, args: argparse.Namespace) -> None:
    changes = {f: getattr(args, f) for f in TRAIN_FLAGS if getattr(args, f) is not None}
    if changes:
        run.update_config(**{FIELD_OF_FLAG.get(f, f): v for f, v in changes.items()})


def _train(args: argparse.Namespace, world: World, run: Run, sentences: Sentences | None = None) -> int:
    from tqdm import tqdm

    from core.pipeline import train_run
    from core.train import TrainEvent

    cfg = run.config()
    stop = threading.Event()
    _stop_on_ctrl_c(stop)
    # Bars on a terminal only: a process the app launched writes to its log file instead.
    quiet = True if not world.is_main else None
    bar = tqdm(total=cfg.epochs, bar_format=BAR_FORMAT, disable=quiet)

    def show(event: TrainEvent) -> None:
        bar.update(event.fraction * cfg.epochs - bar.n)
        bar.set_postfix(loss=f"{event.loss:.4f}", tok_s=f"{event.tokens_per_s:,.0f}", refresh=False)

    download = LazyBar(desc="downloading ptb.zip", unit="B", unit_scale=True, disable=quiet)
    tokenise = LazyBar(desc="tokenising the corpus (once)", unit="B", unit_scale=True, disable=quiet)
    try:
        summary = train_run(
            run,
            [show],
            stop,
            bool(args.resume),
            args.data_dir,
            download.update,
            store_progress=tokenise.update,
            sentences=sentences,
        )
    finally:
        download.close()
        tokenise.close()
        bar.close()
    if world.is_main:
        print_summary(summary)
    return 0


class LazyBar:
    """A tqdm bar that appears only once progress is reported (a download, a large vectors file)."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.bar = None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, **self.options)
        self.bar.update(done - self.bar.n)

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


def cmd_neighbors(args: argparse.Namespace) -> int:
    from core.query import Embeddings
    from core.runs import Run

    embeddings = Embeddings.from_run(Run.open(args.run))
    for word, cosine in embeddings.neighbors(args.word, args.k, args.table):
        print(f"{word}\t{cosine:.4f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """A path to a file is a vectors file; anything else names a run, whose report is saved with it."""
    from core.evaluate import full_report, save_evaluation
    from core.query import Embeddings
    from core.runs import Run
    from core.vectors_io import read_vectors

    run = None if Path(args.target).is_file() else Run.open(args.target)
    if run is None:
        bar = LazyBar(desc="reading vectors", unit=" words", unit_scale=True)
        try:
            embeddings = read_vectors(args.target, args.limit, bar.update)
        finally:
            bar.close()
    else:
        embeddings = _first_words(Embeddings.from_run(run), args.limit)
    report = full_report(embeddings, args.table, args.oov, source=str(run.path if run else args.target))
    print_report(report, args.oov)
    if run is not None:
        save_evaluation(run, report)
        print(f"saved with run {run.name}")
    return 0


def _first_words(embeddings: Embeddings, limit: int | None) -> Embeddings:
    """The `limit` most frequent words of a run (its vocabulary is sorted by count), `<unk>` not counted."""
    from core.query import Embeddings
    from core.vocab import UNK

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
    from core.export import export_vectors
    from core.query import Embeddings
    from core.runs import Run

    embeddings = Embeddings.from_run(Run.open(args.run))
    count = export_vectors(embeddings, args.out, args.format, args.table)
    where = f"{args.out / 'vectors.tsv'} and {args.out / 'metadata.tsv'}" if args.format == "projector" else args.out
    print(f"wrote {count} vectors of dimension {embeddings.center.shape[1]} ({args.format}) to {where}")
    return 0
