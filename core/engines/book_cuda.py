"""The book mode without per-step launch overhead: one Adam step captured in a CUDA graph, replayed per batch.

The algorithm is the book's, unchanged: shuffled batches of `batch_size` centers, masked BCE,
dense Adam. What changes is how the work reaches the GPU. A step call takes a whole stretch of
batches (STAGE_CENTERS centers), builds them with a few tensor operations, and stages them in
fixed buffers; then one step body -- pick batch `cursor` from the buffers, gradients, Adam,
add the loss, advance `cursor` -- runs once per batch. On CUDA that body is captured once in a
CUDA graph and replayed, so a batch costs one launch instead of some thirty; elsewhere (and in
the tests) the very same body runs eagerly. The host never waits on the GPU here: the loss stays
on the device until the trainer reads it at a log point.
"""

from __future__ import annotations

import torch

from core.data.sampling import EpochSample, NoiseTable
from core.distributed import Replicas
from core.engines.book import BookEngine, book_batch, book_gradients
from core.model import SkipGram

STAGE_CENTERS = 1 << 16  # centers staged per step call: 128 batches of the book's 512
WARM_UP_BODIES = 3  # eager runs before capture (allocations, Adam's lazy state); undone afterwards


class GraphBookEngine(BookEngine):
    def __init__(
        self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, batch_size: int, capture: bool = True
    ) -> None:
        super().__init__(model, lr, negatives, noise, batch_size)
        device = self.params[0].device
        self.capture = capture and device.type == "cuda"
        self.optimizer = torch.optim.Adam(self.params, lr=lr, fused=True, capturable=device.type == "cuda")
        for param in self.params:
            param.grad = torch.zeros_like(param)
        self.batch = batch_size
        self.chunk = batch_size * max(1, STAGE_CENTERS // batch_size)
        self.stage: list[torch.Tensor] = []
        self.cursor = torch.zeros(1, dtype=torch.long, device=device)
        self.total = torch.zeros((), device=device)
        self.graph: torch.cuda.CUDAGraph | None = None

    def replicate(self, replicas: Replicas) -> None:
        super().replicate(replicas)
        self.capture = False  # a graph cannot hold the gradients' all-reduce: the body runs eagerly

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor:
        """Adam steps on the batches of centers start..stop-1; returns the sum of their book losses."""
        del progress  # Adam keeps its learning rate fixed, as in the book
        return self.apply(*book_batch(sample, start, stop, self.noise, self.negatives, gen))

    def apply(self, center: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """One Adam step per `batch` rows of these padded rows, in order; the sum of their losses."""
        with torch.no_grad():
            self.total.zero_()
            full = center.shape[0] // self.batch
            if full:
                self._stage([t[: full * self.batch] for t in (center, slots, mask, label)], full)
                for _ in range(full):
                    self._replay()
            rest = slice(full * self.batch, None)
            if center.shape[0] > full * self.batch:
                self._update(center[rest], slots[rest], mask[rest], label[rest])
            return self.total.clone()

    def _stage(self, rows: list[torch.Tensor], batches: int) -> None:
        if not self.stage or self.stage[1].shape[2] != rows[1].shape[1]:
            capacity = self.chunk // self.batch
            self.stage = [t.new_empty((capacity, self.batch, *t.shape[1:])) for t in rows]
            self.graph = None
        for buffer, t in zip(self.stage, rows, strict=True):
            buffer[:batches].copy_(t.view(batches, self.batch, *t.shape[1:]))
        self.cursor.zero_()

    def _replay(self) -> None:
        """Run the body once: by replaying its CUDA graph when capture is possible, else eagerly."""
        if self.capture:
            if self.graph is None:
                self.graph = self._captured()
            self.graph.replay()
        else:
            self._body()

    def _body(self) -> None:
        """The captured step: batch `cursor` of the staged buffers, then the cursor moves on (on the device)."""
        self._update(*(buffer.index_select(0, self.cursor).squeeze(0) for buffer in self.stage))
        self.cursor += 1

    def _update(self, center: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor, label: torch.Tensor) -> None:
        grads = (self.params[0].grad, self.params[1].grad)
        loss, _, _ = book_gradients(self.params[0], self.params[1], center, slots, mask, label, out=grads)
        self.optimizer.step()
        self.total += loss.sum()

    def _captured(self) -> torch.cuda.CUDAGraph:
        """Capture the body after warm-up runs on a side stream, then undo what the warm-up changed."""
        weights = [param.detach().clone() for param in self.params]
        adam = {p: {k: t.clone() for k, t in self.optimizer.state[p].items()} for p in self.optimizer.state}
        cursor, total = self.cursor.clone(), self.total.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARM_UP_BODIES):
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body()
        for param, saved in zip(self.params, weights, strict=True):
            param.data.copy_(saved)
        for param in self.params:  # Adam's state as before the warm-up: saved, or fresh zeros
            for key, tensor in self.optimizer.state[param].items():
                if param in adam:
                    tensor.copy_(adam[param][key])
                else:
                    tensor.zero_()
        self.cursor.copy_(cursor)
        self.total.copy_(total)
        return graph

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state(tensors)
        self.graph = None  # the graph holds the old state tensors' addresses: capture again
