"""Word2Vec Studio's engine: corpora, training, runs on disk, queries, evaluation, command line.

`from core import train, load` is the notebook's way in (`core.notebook`), imported on first use: the
app and its spare process import `core` long before they want torch.
"""

import os

# OpenMP threads that spin while idle (GNU's default) steal the cores of the other training
# processes torchrun starts on the same machine: two 1-thread ranks ran 5x slower than one.
# A lone process keeps spinning, which is 12-20% faster on PTB here. Chosen before torch or
# numba load the OpenMP runtime; torchrun sets LOCAL_WORLD_SIZE before a worker starts.
if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


NOTEBOOK = ("train", "load")


def __getattr__(name: str) -> object:
    if name in NOTEBOOK:
        from core import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
