"""The GPU engines' maths, proven on the CPU, and which engine a device gets.

The graphed book engine's step body (what a CUDA graph captures) runs eagerly and must equal the book's
step; the Triton kernel of the fast mode has its own tests (test_core_triton_kernel.py). The capture
itself and the compiled kernel are checked on a GPU by `python -m core bench --gpu-check`.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from core.data.sampling import NoiseTable
from core.engines.book import book_gradients
from core.engines.book_cuda import GraphBookEngine
from core.model import SkipGram


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
    said: list[str] = []
    fast = make_engine(TrainConfig(), SkipGram(20, 4), noise, 1, False, said.append)
    book = make_engine(TrainConfig(mode="book"), SkipGram(20, 4), noise, 1, False, said.append)
    assert type(fast) is FastCpuEngine
    assert type(book) is BookEngine
    assert not said


def test_the_cpu_path_never_imports_triton() -> None:
    code = (
        "import sys, numpy as np; from core.config import TrainConfig; from core.model import SkipGram; "
        "from core.data.sampling import NoiseTable; from core.engines import make_engine; import core.job, core.bench; "
        "make_engine(TrainConfig(), SkipGram(9, 4), NoiseTable(np.ones(9)), 1, False, print); "
        "print('triton' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
