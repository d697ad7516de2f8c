"""Facts about worker processes that the local backend and ``automl worker`` share.

A leaf: imports nothing from automl (and not torch).
"""

from __future__ import annotations

import os
import signal


def threads_per_process(n_processes: int, cores: int | None = None) -> int:
    """Torch threads for each of ``n_processes`` training processes, so that together they use
    the machine's cores once (oversubscribed threads make every process slower).

    >>> threads_per_process(2, cores=8), threads_per_process(16, cores=8)
    (4, 1)
    """
    return max(1, (cores or os.cpu_count() or 1) // max(1, n_processes))


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it).

    >>> describe_exit(-9), describe_exit(3)
    ('killed by SIGKILL', 'exited with code 3')
    """
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
