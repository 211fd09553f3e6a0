"""``python -m sim``: the command line (``sim.cli``), as a process of its own."""

import os
import sys
import threading

from .cli import EXIT_INTERRUPTED, EXIT_TERMINATED, main

# After Ctrl-C or SIGTERM everything is written or removed: the process must end. A thread
# that never ends would hold the interpreter's exit (a sweep's process pool did, when a
# worker was killed halfway through sending its result: sweep._kill_workers now waits for
# the send). A daemon timer ends the process after EXIT_GRACE seconds if the exit has not.
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
