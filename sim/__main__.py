"""``python -m sim``: the command line (``sim.cli``), as a process of its own."""

import os
import sys
import threading

from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, main

# After Ctrl-C or SIGTERM everything is written or removed: the process must end. A sweep's
# ProcessPoolExecutor can hold the interpreter's exit: a worker killed while it wrote its
# result leaves half a message in the result pipe, whose write end this process also holds,
# so the pool's manager thread waits in recv() forever and the exit joins that thread
# (seen once in a loaded test run; py-spy showed _python_exit joining the manager thread
# blocked in Connection._recv). A daemon timer ends the process after EXIT_GRACE seconds
# if the exit has not by then.
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
