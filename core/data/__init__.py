"""Data: corpora (PTB, Lee, a user's text), the vocabulary, on-disk token stores for large files, each
epoch's subsampling, windows and noise, and the prepared corpus a training process reads in segments.

May import `core.config` and `core.files`; never the run folder (`core.runs`), the engines or the trainer.
"""
