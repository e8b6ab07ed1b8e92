"""Word2Vec Studio's engine: corpora, training, runs on disk, queries, evaluation, command line."""

import os

# OpenMP threads that spin while idle (GNU's default) steal the cores of any other training
# process on the machine: two 1-thread ranks ran 5x slower than one. Passive waiting costs
# nothing measurable here, and must be chosen before torch or numba load the OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
