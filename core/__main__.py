"""`python -m core ...`: the command line; `python -m core spare` is the launcher's spare process, which
waits for its command line (core.runs.spare). Nothing heavy is imported before that check, so a spare
whose input closes ends at once."""

import contextlib
import sys
from collections.abc import Callable


def command_line() -> Callable[[list[str]], int]:
    """`core.cli.main`, imported, with the fast mode's compiled kernel loaded and TensorBoard's event writer
    imported (a run opens one before its first step)."""
    with contextlib.suppress(ImportError):  # without tensorboard a run trains on and says so once
        import torch.utils.tensorboard  # noqa: F401

    from core.cli import main
    from core.engines.kernel_numba import warm_up

    warm_up("fast")
    return main


def run() -> int:
    if sys.argv[1:] == ["spare"]:
        from core.runs.spare import serve

        return serve(command_line)
    from core import distributed
    from core.cli import main

    code = main()
    if distributed.launched_by_torchrun():
        distributed.exit_skipping_teardown(code)
    return code


raise SystemExit(run())
