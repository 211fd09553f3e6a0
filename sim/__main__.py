"""``python -m sim``: the command line (``sim.cli``), as a process of its own."""

import os
import sys
import threading

from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, main

# After Ctrl-C or SIGTERM everything is written or removed: the process must end. CPython's
# ProcessPoolExecutor can hang the interpreter's exit when its workers were killed
# mid-transfer (its manager thread joins a queue feeder that never ends:
# python/cpython#94777, #132969); seen once in a loaded test run. A daemon timer ends the
# process after EXIT_GRACE seconds if the exit has not by then.
EXIT_GRACE = 10


def _exit_within(seconds: float, status: int) -> None:
    sys.stderr.flush()
    timer = threading.Timer(seconds, os._exit, args=(status,))
    timer.daemon = True
    timer.start()


status = main()
if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
    _exit_within(EXIT_GRACE, status)
sys.exit(status)
