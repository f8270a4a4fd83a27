"""`labelbatch local up`: serve the local stack until Ctrl-C or SIGTERM.

Its stdout carries exactly one line, the ready line (JSON: endpoint, region, outputs), so that a script may
read that line and nothing more; everything else, the functions' log and metric lines included, goes to
stderr (see execution_environment.py and LocalStack.invoke).
"""

from __future__ import annotations

import faulthandler
import json
import logging
import signal
import sys
import threading

from labelbatch.local.stack import LocalStack, LocalStackConfig

# Past this, a stop that has not finished prints every thread's stack to stderr.
_SLOW_STOP_SECONDS = 10


def serve(*, host: str, port: int, poll_seconds: int, schedule_every: float | None, schedule: bool) -> None:
    logging.basicConfig(level=logging.WARNING)
    config = LocalStackConfig(
        host=host, port=port, poll_seconds=poll_seconds, schedule_every=schedule_every, schedule=schedule
    )
    stopped = threading.Event()
    # Handled explicitly, SIGINT included: a process started in the background by a shell inherits SIGINT
    # ignored, and Ctrl-C (or a supervisor's SIGINT) would then never stop it.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopped.set())
    with LocalStack(config) as stack:
        ready = {"endpoint": stack.endpoint_url, "region": config.region, "outputs": stack.outputs}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        stopped.wait()
        # Stopping takes a second or two. Should it ever hang, stderr shows where each thread waits.
        faulthandler.dump_traceback_later(_SLOW_STOP_SECONDS)
    faulthandler.cancel_dump_traceback_later()
