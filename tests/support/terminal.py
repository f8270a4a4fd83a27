"""Running `labelbatch` in a pseudo-terminal of its own, as an operator at a terminal does."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable

from support.stack_helpers import LABELBATCH, command_environment

COLUMNS, ROWS = 120, 40
READ_TIMEOUT_SECONDS = 120


def in_terminal(endpoint: str, *arguments: str) -> tuple[subprocess.Popen[bytes], int]:
    """`labelbatch ARGUMENTS --local ENDPOINT` with a new pseudo-terminal as its controlling terminal (so
    Ctrl-C written to it interrupts the program); returns the process and the terminal's controlling side."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    environment = {**command_environment(), "TERM": "xterm-256color", "LABELBATCH_STACK": ""}
    environment.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [str(LABELBATCH), *arguments, "--local", endpoint],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environment,
        preexec_fn=take_terminal,
    )
    os.close(terminal)
    return process, controller


def read_terminal(
    controller: int, until: Callable[[str], bool], timeout: float = READ_TIMEOUT_SECONDS
) -> str:
    """What the terminal showed, read until `until` holds for it or the program closed the terminal."""
    shown = b""
    deadline = time.monotonic() + timeout
    while not until(shown.decode(errors="replace")):
        assert time.monotonic() < deadline, f"not seen within {timeout} s:\n{shown.decode(errors='replace')}"
        ready, _, _ = select.select([controller], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the program exited and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    return shown.decode(errors="replace")
