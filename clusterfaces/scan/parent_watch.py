"""Worker processes end when the process that started them dies, even by `kill -9`."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 1.0


def exit_with_parent() -> None:
    """Call first thing in a worker process. On Linux the kernel kills the worker when its parent dies
    (prctl PR_SET_PDEATHSIG); everywhere a daemon thread also watches the parent's pid and ends the
    worker within POLL_SECONDS of the parent's death (the portable fallback). The kernel's signal follows
    the thread that started the worker: ProcessPoolExecutor starts them from the thread that submits work,
    which outlives the pool in a scan."""
    parent = multiprocessing.parent_process()
    expected = parent.pid if parent is not None and parent.pid else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the thread below still does the job
    if os.getppid() != expected:  # the parent died before the kernel was told to watch it
        os._exit(1)
    threading.Thread(target=_watch, args=(expected,), name="clusterfaces-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:  # orphans are re-parented (to init or a subreaper)
            os._exit(1)
