"""Lambda execution environments for the queue consumer: one process each, running one invocation at a time.

A process, not a thread: concurrent invocations in one interpreter share module-level state that Lambda keeps
per environment. Powertools' BatchProcessor builds each invocation's partial batch response in module-level
state, so two invocations in one interpreter report each other's failures or lose them, and a failed record is
then deleted as a success (measured: a batch run ended SUCCEEDED with an image missing its result).

The environment is `python -m labelbatch.local.execution_environment FD CODE_DIR HANDLER`, talking over a
private socket pair: unlike multiprocessing's spawn, it never re-imports the caller's main module, so any
script may start a local stack. It inherits os.environ (which the local stack has set up). Its stdout, where
the handler's log and metric lines go (as on Lambda), is this process's stderr: stdout belongs to whoever
started the stack (`labelbatch local up` prints its ready line there, the demo its progress), and a pipe
there that nobody reads would block every invocation once full.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from labelbatch.local.lambda_runtime import Handler, LambdaContext, load_handler

# Time a new environment may take to import the handler before its first invocation counts as started.
_START_TIMEOUT_SECONDS = 60
# The process's standard error, whatever sys.stderr is wrapped in (a test's capture, for example).
_STDERR_FD = 2


class InvocationError(RuntimeError):
    """The handler raised, or could not be imported; the message is the traceback from the environment."""


class InvocationTimeoutError(TimeoutError):
    """The invocation outlived the function timeout; the environment was stopped, as Lambda stops it."""


class ExecutionEnvironment:
    """One environment of one function: started (a cold start) on creation, stopped by `close()`."""

    def __init__(self, code_dir: Path, handler: str) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(code_dir), handler],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=_STDERR_FD,
            )
            self._connection = Connection(os.dup(ours.fileno()))
        self._started = False

    def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> Any:
        """The handler's response; InvocationError when it raised, InvocationTimeoutError after `timeout` s.

        The first invocation also waits for the import of the handler, as a cold start does on Lambda (where
        the init phase has its own time limit)."""
        if not self._started:
            self._started = True
            if not self._connection.poll(_START_TIMEOUT_SECONDS):
                self.close()
                raise InvocationError(f"the environment did not start within {_START_TIMEOUT_SECONDS} s")
            self._receive()
        self._connection.send((event, context))
        if not self._connection.poll(timeout):
            self.close()
            raise InvocationTimeoutError(f"the invocation did not end within {timeout} s")
        return self._receive()

    @property
    def running(self) -> bool:
        """False once stopped: after a timeout, a crash or `close()`."""
        return not self._connection.closed

    def close(self) -> None:
        self._connection.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()

    def _receive(self) -> Any:
        try:
            succeeded, payload = self._connection.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise InvocationError("the execution environment exited") from exc
        if not succeeded:
            raise InvocationError(payload)
        return payload


def _serve(connection: Connection, code_dir: Path, handler_name: str) -> None:
    """Import the handler (answering ok or the traceback), then answer each invocation the same way."""
    handler: Handler | None = None
    try:
        handler = load_handler(code_dir, handler_name)
    except Exception:
        # Lambda reports the initialization error for every invocation of such an environment.
        init_error = traceback.format_exc()
    connection.send((True, None))
    while True:
        try:
            event, context = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if handler is None:
                raise InvocationError(init_error)
            outcome: tuple[bool, Any] = (True, handler(event, context))
        except Exception:
            outcome = (False, traceback.format_exc())
        sys.stdout.flush()
        connection.send(outcome)


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), Path(sys.argv[2]), sys.argv[3])
