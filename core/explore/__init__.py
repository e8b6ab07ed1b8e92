"""Explore: what a run's vectors say: neighbours and analogies (`vectors`), the word-similarity and analogy
benchmarks (`evaluate`), 2-D/3-D maps (`projection`), exports and other tools' vector files.

Reads runs through `core.runs` and vocabularies through `core.data`; never trains and never imports the
job, the trainer or the engines.
"""
