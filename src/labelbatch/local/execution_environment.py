"""Lambda execution environments: one process each, running one invocation at a time.

A process, not a thread: concurrent invocations in one interpreter share module-level state that Lambda keeps
per environment. Powertools' BatchProcessor builds each invocation's partial batch response in module-level
state, so two invocations in one interpreter report each other's failures or lose them, and a failed record is
then deleted as a success (measured: a batch run ended SUCCEEDED with an image missing its result). The pace
of analyze_image's model calls is per environment too.

Every environment of a function forks from that function's template process (`FunctionRuntime`), which started
with the function's environment variables and nothing of this process's, and imported the handler once. A cold
start costs a fork: importing boto3 and Powertools anew for each environment took about 2 s of CPU, so the
dozens of environments a large model's consumer opens at once took minutes on a small machine. This process's
os.environ, sys.path and sys.modules are never touched. An environment's standard output and error, where the
handler's log and metric lines go (as on Lambda), are this process's standard error as it is when the
environment starts: stdout belongs to whoever started the stack (`labelbatch local up` prints its ready line
there, the demo its progress).

The template is `python -m labelbatch.local.execution_environment FD CODE_DIR HANDLER`: unlike
multiprocessing's spawn, it never re-imports the caller's main module, so any script may start a local stack.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from labelbatch.local.lambda_runtime import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]

# Time the template may take to import the handler before its first environment counts as started.
_START_TIMEOUT_SECONDS = 60
# The process's standard error, whatever sys.stderr is wrapped in (a test's capture, for example).
_STDERR_FD = 2
# What the Python runtime's environment holds besides the function's variables.
_RUNTIME_VARIABLES = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")


class InvocationError(RuntimeError):
    """The handler raised, or could not be imported; the message is the traceback from the environment."""


class InvocationTimeoutError(TimeoutError):
    """The invocation outlived the function timeout; the environment was stopped, as Lambda stops it."""


class FunctionRuntime:
    """One function's template process; `new_environment()` forks an execution environment from it."""

    def __init__(self, code_dir: Path, handler: str, variables: Mapping[str, str]) -> None:
        environment = {name: os.environ[name] for name in _RUNTIME_VARIABLES if name in os.environ}
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(code_dir), handler],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=_STDERR_FD,
                env={**environment, **variables},
            )
        self._control = ours
        self._lock = threading.Lock()

    def new_environment(self) -> ExecutionEnvironment:
        """A cold start: a new environment, with the handler imported (or its import error kept)."""
        ours, theirs = socket.socketpair()
        with theirs, self._lock:
            socket.send_fds(self._control, [b"fork"], [theirs.fileno(), _STDERR_FD])
        return ExecutionEnvironment(Connection(ours.detach()))

    def close(self) -> None:
        """Stop the template; environments already forked end when their connection closes."""
        self._control.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ExecutionEnvironment:
    """One environment of one function, running in a process forked from its template; `close()` stops it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pid: int | None = None

    def invoke(self, event: dict[str, Any], context: LambdaContext, timeout: float) -> Any:
        """The handler's response; InvocationError if it raised, InvocationTimeoutError after `timeout` s."""
        if self._pid is None:
            if not self._connection.poll(_START_TIMEOUT_SECONDS):
                self.close()
                raise InvocationError(f"the environment did not start within {_START_TIMEOUT_SECONDS} s")
            self._pid = self._receive()
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
        if self._connection.closed:
            return
        self._connection.close()
        if self._pid is not None:
            # An environment that is not in the middle of an invocation has ended at the close already.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)

    def _receive(self) -> Any:
        try:
            succeeded, payload = self._connection.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise InvocationError("the execution environment exited") from exc
        if not succeeded:
            raise InvocationError(payload)
        return payload


def _load_handler(code_dir: Path, handler: str) -> Handler:
    """Import ``module.path.function`` from the function's code directory, as the Python runtime does."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    sys.path.insert(0, str(code_dir.resolve()))
    function: Handler = getattr(importlib.import_module(module_name), function_name)
    return function


def _run_template(control: socket.socket, code_dir: Path, handler_name: str) -> None:
    """Import the handler once, then fork an environment for each request until the stack closes us."""
    # Lambda's runtime writes each line through as the handler writes it: a timed-out invocation's lines are
    # not lost with its environment, as they would be in a buffer.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    handler: Handler | None = None
    init_error = ""
    try:
        handler = _load_handler(code_dir, handler_name)
    except Exception:
        # Lambda reports the initialization error for every invocation of such an environment.
        init_error = traceback.format_exc()
    # Environments are nobody's to wait for: the kernel reaps them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        request, fds, _flags, _address = socket.recv_fds(control, 16, 2)
        if not request:
            return
        connection_fd, output_fd = fds
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            _serve(Connection(connection_fd), handler, init_error)
            os._exit(0)
        os.close(connection_fd)
        os.close(output_fd)


def _serve(connection: Connection, handler: Handler | None, init_error: str) -> None:
    """Say which process this is, then answer each invocation with the response or the traceback."""
    connection.send((True, os.getpid()))
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
    _run_template(socket.socket(fileno=int(sys.argv[1])), Path(sys.argv[2]), sys.argv[3])
