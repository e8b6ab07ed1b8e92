"""The GPU engines' maths, proven on the CPU.

The Triton kernel runs under Triton's interpreter (TRITON_INTERPRET=1) on CPU tensors and must equal
the CPU kernel's updates; the graphed book engine's step body (what a CUDA graph captures) runs
eagerly and must equal the book's step. The capture itself and the compiled kernel are checked
on a GPU by `python -m core bench --gpu-check`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
import torch
from conftest import ROOT

from core.data.sampling import EpochSample, NoiseTable
from core.engines.book import book_gradients
from core.engines.book_cuda import GraphBookEngine
from core.engines.kernel_numba import sgd_centers as cpu_kernel
from core.model import SkipGram


@pytest.fixture(scope="module")
def triton_kernel() -> ModuleType:
    """core.engines.kernel_triton under Triton's interpreter (conftest sets TRITON_INTERPRET before anything loads
    Triton:
    torch itself imports it, and Triton's own functions keep the mode of their first import)."""
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed (pip install -r requirements-test.txt)")
    assert os.environ.get("TRITON_INTERPRET") == "1"
    return importlib.import_module("core.engines.kernel_triton")


def kernel_case(vocab: int = 24, n: int = 12, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Tables, centers, contexts with gaps (-1) and noise words: distinct per center, never the center."""
    gen = torch.Generator().manual_seed(seed)
    v, u = torch.randn(vocab, 10, generator=gen) * 0.3, torch.randn(vocab, 10, generator=gen) * 0.3
    centers = torch.randint(1, vocab, (n,), generator=gen)
    contexts = torch.randint(1, vocab, (n, 6), generator=gen)
    contexts[torch.rand(n, 6, generator=gen) < 0.4] = -1
    perms = [torch.randperm(vocab - 1, generator=gen) + 1 for _ in range(n)]
    noise = torch.stack([perm[perm != c][:4] for perm, c in zip(perms, centers, strict=True)])
    return v, u, centers, contexts, noise


def test_one_program_equals_the_cpu_kernel(triton_kernel: ModuleType) -> None:
    v, u, centers, contexts, noise = kernel_case()
    v_cpu, u_cpu = v.clone(), u.clone()
    losses = triton_kernel.sgd_centers(v, u, centers, contexts, noise, 0.2, 0.05, workers=1)
    expected = cpu_kernel(*(t.numpy() for t in (v_cpu, u_cpu, centers, contexts, noise)), 0.2, 0.05)
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(v, v_cpu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(u, u_cpu, rtol=1e-5, atol=1e-6)
    assert not torch.equal(v, kernel_case()[0]), "the case must move the tables"


def test_each_program_walks_its_own_stretch_on_the_full_schedule(triton_kernel: ModuleType) -> None:
    """Two programs on two halves that share no rows: each half as the CPU kernel alone, lr from_ -> to each."""
    first, second = kernel_case(vocab=12, n=6, seed=1), kernel_case(vocab=12, n=6, seed=2)
    shifted = [t if i < 2 else torch.where(t >= 0, t + 12, t) for i, t in enumerate(second)]
    v, u = torch.cat([first[0], shifted[0]]), torch.cat([first[1], shifted[1]])
    joined = [torch.cat([a, b]) for a, b in zip(first[2:], shifted[2:], strict=True)]
    triton_kernel.sgd_centers(v, u, *joined, 0.3, 0.1, workers=2)
    for half, rows in ((first, slice(0, 12)), (second, slice(12, 24))):
        v_half, u_half = half[0].clone(), half[1].clone()
        cpu_kernel(*(t.numpy() for t in (v_half, u_half, *half[2:])), 0.3, 0.1)
        torch.testing.assert_close(v[rows], v_half, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(u[rows], u_half, rtol=1e-5, atol=1e-6)


def test_a_short_run_of_the_gpu_engine_lowers_the_loss(triton_kernel: ModuleType) -> None:
    """Two sentences of three words, trained again and again; noise words come from the other 20 words."""
    from core.engines.fast_triton import GpuFastEngine

    torch.manual_seed(0)
    words = torch.tensor([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
    sample = EpochSample(words, torch.arange(12) // 6, torch.full((12,), 2, dtype=torch.int16), 2)
    counts = np.array([0] + [1] * 6 + [1000] * 20)
    engine = GpuFastEngine(SkipGram(27, 8), 0.2, 2, NoiseTable(counts), in_flight=2)
    gen = torch.Generator().manual_seed(0)
    losses = [float(engine.step(sample, 0, 12, gen, (0.0, 0.0))) / 12 for _ in range(4)]
    assert losses[-1] < losses[0] - 0.05, losses


def book_rows(n: int, width: int = 8, vocab: int = 20) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(n)
    center = torch.randint(0, vocab, (n,), generator=gen)
    slots = torch.randint(0, vocab, (n, width), generator=gen)
    mask = (torch.rand(n, width, generator=gen) < 0.8).float()
    mask[:, 0] = 1.0
    label = torch.zeros(n, width)
    label[:, :2] = 1.0
    return center, slots, mask, label


def test_graphed_book_step_body_equals_the_book_step() -> None:
    """The body a CUDA graph captures, run eagerly over staged batches and a short last batch,
    equals one plain Adam step per batch; a second call starts again at the first staged batch."""
    torch.manual_seed(0)
    graphed, plain = SkipGram(20, 6), SkipGram(20, 6)
    plain.load_state_dict(graphed.state_dict())
    engine = GraphBookEngine(graphed, 0.01, 2, NoiseTable(np.ones(20)), batch_size=4, capture=False)
    params = [plain.embed_v.weight, plain.embed_u.weight]
    adam = torch.optim.Adam(params, lr=0.01)
    for n in (10, 9):
        rows = book_rows(n)
        total = engine.apply(*rows)
        expected = 0.0
        for start in range(0, n, 4):
            with torch.no_grad():
                loss, params[0].grad, params[1].grad = book_gradients(*params, *(t[start : start + 4] for t in rows))
            adam.step()
            expected += float(loss.sum())
        assert float(total) == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(graphed.embed_v.weight, plain.embed_v.weight)
    torch.testing.assert_close(graphed.embed_u.weight, plain.embed_u.weight)
    assert int(engine.cursor) == 2, "two full staged batches of 4 in the last call"


def test_gpu_summary_names_each_gpu_and_its_memory_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (100 * 2**30, 140 * 2**30))
    assert device.gpu_summary() == ["NVIDIA H200: 40.0 of 140.0 GiB in use"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.gpu_summary() == []


def test_make_engine_keeps_the_cpu_engines_on_the_cpu() -> None:
    """`auto` on a machine without CUDA: the CPU engines; the GPU engines only on CUDA tensors."""
    from core.config import TrainConfig
    from core.engines import make_engine
    from core.engines.book import BookEngine
    from core.engines.fast_cpu import FastCpuEngine

    noise = NoiseTable(np.ones(20))
    fast = make_engine(TrainConfig(), SkipGram(20, 4), noise, 1, lockstep=False)
    book = make_engine(TrainConfig(mode="book"), SkipGram(20, 4), noise, 1, lockstep=False)
    assert type(fast) is FastCpuEngine
    assert type(book) is BookEngine


def test_the_cpu_path_never_imports_triton() -> None:
    code = (
        "import sys, numpy as np; from core.config import TrainConfig; from core.model import SkipGram; "
        "from core.data.sampling import NoiseTable; from core.engines import make_engine; import core.job, core.bench; "
        "make_engine(TrainConfig(), SkipGram(9, 4), NoiseTable(np.ones(9)), 1, False); print('triton' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
