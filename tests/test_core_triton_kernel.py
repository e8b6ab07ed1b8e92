"""The GPU fast mode's Triton kernel, its engine and its fallback, proven on the CPU under TRITON_INTERPRET=1.

The interpreter runs the programs of a launch one after another, in program order: with one program the
kernel must equal the emulation's exact sequential reference (`kernel_batched.train_in_flight`), and with
several, the sequential reference over each program's slice in turn. Timing, atomics under contention and
the compiled kernel are the device check's (`python -m core bench --gpu-check`).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from core.data.sampling import EpochSample, NoiseTable
from core.engines.kernel_batched import noise_thresholds, noise_word, stretch_bounds, train_in_flight
from core.model import SkipGram

triton = pytest.importorskip("triton", reason="triton is not installed (pip install -r requirements.txt)")
tl = triton.language
kernel_triton = importlib.import_module("core.engines.kernel_triton")  # under the interpreter: conftest set it
K, W = 3, 2
LR = (0.2, 0.05)


@pytest.fixture
def kernel() -> ModuleType:
    assert os.environ.get("TRITON_INTERPRET") == "1"
    return kernel_triton


@triton.jit
def draw_noise(out, seed_at, ids, vocab, threshold, alias, K: tl.constexpr, BLOCK: tl.constexpr):
    """The kernel's noise words of each place's center, alone."""
    place = tl.program_id(0).to(tl.int64)
    slots = tl.arange(0, BLOCK).to(tl.int64)
    seed = tl.load(seed_at).to(tl.uint64, bitcast=True)
    words = kernel_triton.noise_words(seed, place, slots, slots < K, tl.load(ids + place), vocab, threshold, alias, K)
    tl.store(out + place * K + slots, words, mask=slots < K)


def noise_table(counts: list[float]) -> tuple[np.ndarray, np.ndarray]:
    table = NoiseTable(np.asarray(counts, dtype=np.float64))
    return noise_thresholds(table.prob.numpy()), table.alias.numpy().astype(np.int64)


def case(dim: int, n: int = 28) -> tuple[np.ndarray, ...]:
    """Tables and a sample of 12 words in sentences of 7 (the last center alone, without context); word 5 twice
    in one window (places 2 and 4 around center 3), and a noise table where word 11 takes most draws."""
    rng = np.random.default_rng(dim)
    v, u = (rng.normal(0.0, 0.4, (12, dim)).astype(np.float32) for _ in range(2))
    ids = rng.integers(1, 11, n).astype(np.int64)
    ids[[2, 4]] = 5
    sentence = (np.arange(n) // 7).astype(np.int64)
    sentence[-1] = sentence[-2] + 1
    window = rng.integers(1, W + 1, n).astype(np.int16)
    window[3] = W
    return v, u, ids, sentence, window, *noise_table([0] + [1] * 10 + [40])


def on_torch(arrays: tuple[np.ndarray, ...]) -> list[torch.Tensor]:
    return [torch.tensor(a) for a in arrays]


@pytest.mark.parametrize("dim", [8, 16])  # 16: the products are tl.dot; 8: broadcast sums
@pytest.mark.parametrize(("step_from", "step_to"), [(0, 28), (9, 20)])
def test_one_program_equals_the_emulation(kernel: ModuleType, dim: int, step_from: int, step_to: int) -> None:
    v, u, ids, sentence, window, threshold, alias = case(dim)
    seed = 2**63 + 7  # above int64: the kernel's arithmetic is uint64
    drawn = [
        [noise_word(np.uint64(seed), p, s, ids[p], K, threshold, alias) for s in range(K)] for p in range(len(ids))
    ]
    assert any(len(set(words)) < K for words in drawn[step_from:step_to]), "a noise word drawn twice"
    tv, tu, *rest = on_torch((v, u, ids, sentence, window, threshold, alias))
    got = kernel.train_slice(tv, tu, *rest[:3], W, *rest[3:], K, seed, *LR, 1, step_from, step_to)
    sample = (ids, sentence, window, W, threshold, alias, K, np.uint64(seed))
    loss, scored = train_in_flight(v, u, *sample, *LR, 1, step_from, step_to)
    assert got.shape == (2,) and got.dtype == torch.float32
    assert float(got[0]) == pytest.approx(loss, rel=1e-5)
    assert int(got[1]) == scored == step_to - step_from - (step_to == len(ids))  # the alone center: not scored
    np.testing.assert_allclose(tv.numpy(), v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tu.numpy(), u, rtol=1e-5, atol=1e-6)
    assert not np.allclose(v, case(dim)[0]), "the case must move the tables"


@pytest.mark.parametrize("step", [1, 5, 28])
def test_each_program_trains_its_slice_of_its_own_stretch(kernel: ModuleType, step: int) -> None:
    """Three programs over a whole epoch in steps of `step` centers equal, step by step and program by program,
    the sequential reference over the slices `stretch_bounds` gives, each at its own stretch's rates."""
    v, u, ids, sentence, window, threshold, alias = case(8)
    n, programs, seed = len(ids), 3, 11
    sample = (ids, sentence, window, W, threshold, alias, K, np.uint64(seed))
    tv, tu, *rest = on_torch((v, u, ids, sentence, window, threshold, alias))
    scored_by_kernel = 0
    for step_from in range(0, n, step):
        step_to = min(step_from + step, n)
        got = kernel.train_slice(tv, tu, *rest[:3], W, *rest[3:], K, seed, *LR, programs, step_from, step_to)
        scored_by_kernel += int(got[1])
        firsts, stops = stretch_bounds(n, programs, step_from, step_to)
        if step_from == 0:
            np.testing.assert_array_equal(firsts, np.arange(programs) * n // programs)  # an epoch/P apart
        for p, (first, stop) in enumerate(zip(firsts, stops, strict=True)):
            start, length = p * n // programs, (p + 1) * n // programs - p * n // programs
            slope = (LR[1] - LR[0]) * n / length  # rates that put the stretch's k-th center at LR[0] + (..) k / L
            at_zero = LR[0] - (LR[1] - LR[0]) * start / length
            train_in_flight(v, u, *sample, at_zero, at_zero + slope, 1, first, stop)
    assert scored_by_kernel == n - 1  # every center once, but the one without context
    np.testing.assert_allclose(tv.numpy(), v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tu.numpy(), u, rtol=1e-5, atol=1e-6)


def test_the_kernel_draws_the_reference_noise_words(kernel: ModuleType) -> None:
    """The kernel's own generator (`noise_words`, launched alone) gives `noise_word`'s words, redraws included:
    word 1 takes nearly every draw, and a table of word 2 alone leaves center 2 to the neighbour id."""
    for counts in ([0, 200, 1, 1, 1, 1], [0, 0, 1, 0, 0, 0]):
        threshold, alias = noise_table(counts)
        ids = np.array([1, 2, 3, 1, 5, 2, 1], dtype=np.int64)
        seed = 2**64 - 3
        out = torch.zeros((len(ids), 4), dtype=torch.int64)
        tables = (torch.tensor(threshold), torch.tensor(alias))
        draw_noise[(len(ids),)](
            out, torch.tensor([seed - 2**64]), torch.tensor(ids), len(counts), *tables, K=4, BLOCK=4
        )
        expected = [
            [noise_word(np.uint64(seed), p, s, ids[p], 4, threshold, alias) for s in range(4)] for p in range(len(ids))
        ]
        np.testing.assert_array_equal(out.numpy(), expected)
        assert (out != torch.tensor(ids)[:, None]).all()


def test_a_short_run_of_the_gpu_engine_lowers_the_loss(kernel: ModuleType) -> None:
    """Two sentences of three words, trained again and again; noise words come from the other 20 words."""
    from core.engines.fast_triton import GpuFastEngine

    torch.manual_seed(0)
    words = torch.tensor([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
    sample = EpochSample(words, torch.arange(12) // 6, torch.full((12,), 2, dtype=torch.int16), 2)
    counts = np.array([0] + [1] * 6 + [1000] * 20)
    engine = GpuFastEngine(SkipGram(27, 8), 0.2, 2, NoiseTable(counts), in_flight=2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(4):
        steps = list(engine.run(sample, [(0, 5), (5, 12)], (0.0, 0.0), gen))
        assert sum(trained for trained, _, _ in steps) == 12
        losses.append(sum(float(loss) for _, loss, _ in steps) / 12)
    assert losses[-1] < losses[0] - 0.05, losses


def test_default_in_flight_follows_the_noise_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    """clamp(C * (1 / sum p^2) / (k + 1), 32, 2 * SMs) on CUDA; one program elsewhere."""
    from core.engines import fast_triton

    class Properties:
        multi_processor_count = 132

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Properties())
    monkeypatch.setattr(fast_triton, "IN_FLIGHT_C", 2.0)
    cuda = torch.device("cuda")
    assert fast_triton.default_in_flight(np.ones(600), 5, cuda) == 200  # 2 * 600 / 6
    assert fast_triton.default_in_flight(np.ones(60), 5, cuda) == 32
    assert fast_triton.default_in_flight(np.ones(6000), 5, cuda) == 264
    assert fast_triton.default_in_flight(np.ones(600), 5, torch.device("cpu")) == 1
    assert fast_triton.in_flight_for(NoiseTable(np.ones(601)).effective_words, 5, cuda) == 200  # <unk> left out


def test_the_kernel_passes_its_own_check(kernel: ModuleType) -> None:
    from core.engines.fast_triton import kernel_fault

    assert kernel_fault(torch.device("cpu"), 12, 5, 3) is None


def wrong_answer(*args: object) -> torch.Tensor:
    """A kernel that returns without training."""
    return torch.zeros(2)


def broken(*args: object) -> torch.Tensor:
    raise RuntimeError("PTX assembly failed\nptxas fatal: more detail on a second line")


@pytest.mark.parametrize(("fault", "reason"), [(broken, "failed to compile or run"), (wrong_answer, "disagrees")])
def test_a_failing_kernel_falls_back_to_the_tensor_engine_in_one_line(
    kernel: ModuleType,
    fault: object,
    reason: str,
    tiny_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The GPU path (make_engine's CUDA branch, taken here on CPU tensors) with a kernel that raises or answers
    wrongly: training finishes on the tensor engine, and says why once: on the command line, in the run's status
    and on the Train page."""
    from conftest import open_app_page

    from core import trainer
    from core.cli import main
    from core.engines import fast_triton
    from core.engines.fast_torch import FastEngine
    from core.runs import Run

    engines = []

    def gpu_path(cfg, model, noise, threads, lockstep, notify):
        settings = (cfg.sgd_lr, cfg.negatives, noise, cfg.max_window, cfg.batch_size)
        engine = fast_triton.gpu_fast_engine(model, *settings, notify)
        engines.append(engine)
        return engine

    monkeypatch.setattr(kernel, "train_slice", fault)
    monkeypatch.setattr(trainer, "make_engine", gpu_path)
    args = ["train", "--corpus", str(tiny_corpus), "--min-freq", "2", "--epochs", "1", "--embed-size", "8"]
    assert main([*args, "--name", "fallback"]) == 0
    assert [type(engine) for engine in engines] == [FastEngine]
    said = [line for line in capsys.readouterr().err.splitlines() if "GPU kernel" in line]
    assert len(said) == 1 and reason in said[0] and "tensor engine" in said[0], said
    status = Run.open("fallback").status()
    assert status.state == "finished" and status.message == said[0]
    page = open_app_page("pages/train.py", shown_run="fallback")
    assert [info.value for info in page.info if "GPU kernel is not used" in info.value], "shown on the Train page"


COMPILE_FOR_SM90 = """
import sys, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from core.engines import kernel_triton as kt
pointers = {"v": "*fp32", "u": "*fp32", "ids": "*i64", "sentence": "*i64", "window": "*i16", "threshold": "*i64",
            "alias": "*i64", "seed_at": "*i64", "result": "*fp32"}
scalars = {"n": "i32", "vocab": "i32", "step_from": "i32", "step_to": "i32", "lr_from": "fp32", "lr_to": "fp32"}
for dim, dot in ((100, True), (8, False)):
    shapes = {"DIM": dim, "W": 5, "K": 5, "BLOCK_C": 16, "BLOCK_T": 16 if dot else 8,
              "BLOCK_D": triton.next_power_of_2(dim), "DOT": dot}
    source = ASTSource(kt._train_slice, {**pointers, **scalars, **dict.fromkeys(shapes, "constexpr")}, shapes,
                       {(i,): [["tt.divisibility", 16]] for i in range(len(pointers))})
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
    print(dim, "cubin" in compiled.asm, compiled.asm["ptx"].count("red.global.gpu.relaxed.add.v4.f32"))
"""


def test_the_kernel_compiles_for_a_hopper_gpu_without_one() -> None:
    """What the interpreter cannot show: the kernel lowers to PTX and a cubin for sm_90 (H100, H200), and with
    `dim` 100 its row updates are 4-wide vector atomics. Triton's own compiler, no GPU needed."""
    pytest.importorskip("triton.backends.nvidia", reason="Triton without its CUDA backend")
    from conftest import ROOT

    env = {k: value for k, value in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-c", COMPILE_FOR_SM90], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[0][:2] == ["100", "True"] and int(lines[0][2]) > 0, lines
    assert lines[1][:2] == ["8", "True"], lines
