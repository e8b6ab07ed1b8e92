"""Each run folder is a TensorBoard log directory: read back with TensorBoard's own reader and served by
`tensorboard --logdir` itself (scalars and projector), appended to without duplicates on a resume, and never
a reason for a training to fail."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import served
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from core.bench.watch import free_port
from core.config import TrainConfig
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import MetricRow, Run, runs_root
from core.runs.board import EPOCH_TAG, STEP_TAG

TINY = {"min_freq": 2, "epochs": 2, "embed_size": 12, "threads": 1}


def tiny_run(corpus: Path, name: str = "tiny") -> Run:
    return Run.create(TrainConfig(corpus=str(corpus), **TINY), name=name)


def scalars(run: Run) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of each loss tag, as TensorBoard's event accumulator reads the run folder."""
    events = EventAccumulator(str(run.path))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def expected(run: Run) -> dict[str, list[tuple[int, float]]]:
    """What the metrics file says the tags hold: step points numbered 1, 2, ...; epoch points at their epoch."""
    rows = run.metrics()
    steps = [row.loss for row in rows if row.kind == "step"]
    return {
        STEP_TAG: [(i, loss) for i, loss in enumerate(steps, 1)],
        EPOCH_TAG: [(row.epoch, row.loss) for row in rows if row.kind == "epoch"],
    }


def assert_same(found: dict, wanted: dict) -> None:
    assert set(found) == set(wanted)
    for tag, points in wanted.items():
        assert [s for s, _ in found[tag]] == [s for s, _ in points], tag
        np.testing.assert_allclose([v for _, v in found[tag]], [v for _, v in points], rtol=1e-6)


def test_the_loss_points_are_the_metrics_rows(tiny_corpus: Path) -> None:
    run = tiny_run(tiny_corpus)
    train_run(run)
    found, wanted = scalars(run), expected(run)
    assert len(wanted[STEP_TAG]) >= 20 and len(wanted[EPOCH_TAG]) == 2
    assert_same(found, wanted)
    assert len(run.event_files()) == 1


def test_a_resume_appends_and_drops_the_interrupted_epochs_points(tiny_corpus: Path) -> None:
    run = tiny_run(tiny_corpus)
    stop = threading.Event()
    seen = []

    def stop_in_epoch_two(row: MetricRow) -> None:
        seen.append(row)
        if row.kind == "step" and row.epoch == 2 and sum(r.epoch == 2 for r in seen) == 3:
            stop.set()

    train_run(run, [stop_in_epoch_two], stop)
    assert run.status().state == "stopped" and run.epochs_done() == 1
    dropped = [r for r in seen if r.epoch == 2]
    assert len(dropped) >= 3  # epoch 2's first points were written, and will be gone after the resume
    train_run(run, resume=True)
    assert run.status().state == "finished" and len(run.event_files()) == 2
    assert_same(scalars(run), expected(run))  # no point twice, none renumbered, the interrupted ones dropped


def test_a_failing_event_writer_is_reported_once_and_training_goes_on(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from torch.utils.tensorboard import SummaryWriter

    def full_disk(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SummaryWriter, "add_scalar", full_disk)
    run = tiny_run(tiny_corpus)
    train_run(run)
    assert run.status().state == "finished" and run.epochs_done() == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "TensorBoard" in line]
    assert warnings == [
        f"warning: run {run.name}: TensorBoard's files cannot be written ([Errno 28] No space left on device); "
        "training goes on without them"
    ]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def poll_json(url: str, ready, server: subprocess.Popen, deadline: float):
    """GET `url` until `ready(answer)` holds; fail when the server exits or the deadline passes."""
    while True:
        assert server.poll() is None, "tensorboard exited"
        try:
            answer = json.loads(get(url))
            if ready(answer):
                return answer
        except (urllib.error.URLError, ConnectionError, ValueError):
            pass
        assert time.monotonic() < deadline, f"tensorboard did not serve {url} in time"
        time.sleep(0.25)


def test_tensorboard_serves_the_loss_curves_and_the_projector(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tiny_run(tiny_corpus, "tiny-café")  # a name that needs quoting in a URL
    train_run(run)
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(runs_root()), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--load_fast", "false", "--reload_interval", "1"]
    base = f"http://127.0.0.1:{port}/data/plugin"
    name = urllib.request.quote(run.name)
    with served(command, tmp_path / "tensorboard.log") as server:
        deadline = time.monotonic() + 90
        tags = poll_json(f"{base}/scalars/tags", lambda a: run.name in a, server, deadline)
        assert set(tags[run.name]) == {STEP_TAG, EPOCH_TAG}
        wanted = expected(run)
        for tag in (STEP_TAG, EPOCH_TAG):
            points = json.loads(get(f"{base}/scalars/scalars?run={name}&tag={urllib.request.quote(tag)}"))
            assert [step for _, step, _ in points] == [step for step, _ in wanted[tag]]

        assert poll_json(f"{base}/projector/runs", lambda a: run.name in a, server, deadline) == [run.name]
        config = json.loads(get(f"{base}/projector/info?run={name}"))
        vectors = Embeddings.from_run(run)
        words, dim = len(vectors.words) - 1, vectors.center.shape[1]  # all but <unk>
        assert config["embeddings"][0]["tensorShape"] == [words, dim]
        tensor = np.frombuffer(get(f"{base}/projector/tensor?run={name}&name={name}"), dtype=np.float32)
        np.testing.assert_array_equal(tensor.reshape(words, dim), vectors.center[1:])
        metadata = get(f"{base}/projector/metadata?run={name}&name={name}").decode().splitlines()
        assert metadata[0] == "word\tcount" and [line.split("\t")[0] for line in metadata[1:]] == vectors.words[1:]


def test_a_new_checkpoint_removes_the_projector_files_of_an_earlier_finish(tiny_corpus: Path) -> None:
    run = tiny_run(tiny_corpus)
    train_run(run)
    assert all(path.is_file() for path in run.projector_files())
    stop = threading.Event()
    train_run(run, [lambda row: row.kind == "epoch" and stop.set()], stop, resume=True, changes={"epochs": 4})
    assert run.epochs_done() == 3 and not any(path.exists() for path in run.projector_files())
    train_run(run, resume=True)
    assert all(path.is_file() for path in run.projector_files())


def test_the_projector_shows_the_most_frequent_words_of_a_large_vocabulary(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.explore.vector_files import read_vectors
    from core.runs import board

    monkeypatch.setattr(board, "MAX_PROJECTED", 6)
    run = tiny_run(tiny_corpus)
    train_run(run)
    shown = read_vectors(run.projector_files()[0])
    vectors = Embeddings.from_run(run)
    assert shown.words == vectors.words[1:6]  # the vocabulary's first 6 rows, <unk> left out as in every export
    np.testing.assert_array_equal(shown.center, vectors.center[1:6])


def test_the_points_are_on_disk_while_the_run_trains(tiny_corpus: Path) -> None:
    """When epoch 2 begins, TensorBoard already reads epoch 1's points (the writer flushes at each epoch's end)."""
    run = tiny_run(tiny_corpus)
    seen: list[dict] = []

    def read_at_epoch_two(row: MetricRow) -> None:
        if row.epoch == 2 and not seen:
            seen.append(scalars(run))

    train_run(run, [read_at_epoch_two])
    epoch_one = [row for row in run.metrics() if row.epoch == 1]
    assert seen[0][EPOCH_TAG] == [(1, pytest.approx(epoch_one[-1].loss))]
    assert len(seen[0][STEP_TAG]) == len(epoch_one) - 1  # every step point of epoch 1
