from core import distributed
from core.cli import main

code = main()
if distributed.launched_by_torchrun():
    distributed.exit_skipping_teardown(code)
raise SystemExit(code)
