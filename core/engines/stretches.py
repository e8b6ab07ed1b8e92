"""Who trains which centers: each worker owns a contiguous stretch of an epoch, in chunks.

A worker takes the chunks of its own stretch in order, as word2vec.c's threads walk their own part
of the file, so the updates that land together come from distant parts of the corpus. A worker
whose stretch is done takes the last chunk of the stretch with the most left, so a worker that
gets less of the CPU (a busy machine) slows only itself: nobody waits for it but the epoch's end,
and by then it holds at most the one chunk it is training.
"""

from __future__ import annotations

import threading


class Stretches:
    def __init__(self, start: int, stop: int, chunk: int, workers: int) -> None:
        self.start, self.stop, self.chunk = start, stop, chunk
        count = -(-(stop - start) // chunk)
        self.next = [w * count // workers for w in range(workers)]
        self.end = [(w + 1) * count // workers for w in range(workers)]
        self.taken = 0  # chunks a worker took from another's stretch
        self._lock = threading.Lock()

    def claim(self, worker: int) -> tuple[int, int, int] | None:
        """The next chunk for `worker` as (index, first center, stop), or None when all are taken."""
        with self._lock:
            if self.next[worker] < self.end[worker]:
                index = self.next[worker]
                self.next[worker] += 1
            else:
                left = [end - nxt for nxt, end in zip(self.next, self.end, strict=True)]
                fullest = max(range(len(left)), key=left.__getitem__)
                if left[fullest] <= 0:
                    return None
                self.end[fullest] -= 1
                index = self.end[fullest]
                self.taken += 1
        first = self.start + index * self.chunk
        return index, first, min(first + self.chunk, self.stop)
