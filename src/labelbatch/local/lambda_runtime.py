"""Run the real handlers from functions/ in this process, the way Lambda would call them."""

from __future__ import annotations

import importlib
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    started_at: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def load_handler(code_dir: Path, handler: str) -> Handler:
    """Import ``module.path.function`` from the function's code directory, as the Python runtime does."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    code_root = str(code_dir.resolve())
    if code_root not in sys.path:
        sys.path.insert(0, code_root)
    function: Handler = getattr(importlib.import_module(module_name), function_name)
    return function


FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


def unload_function_modules(code_dir: Path) -> None:
    """Forget every module imported from `code_dir`, as a new deployment gets new execution environments.

    Handlers cache settings and SDK clients for the life of an environment (pointing at one endpoint); the
    next local stack must start them cold."""
    root = code_dir.resolve()
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if location is not None and Path(location).resolve().is_relative_to(root):
            del sys.modules[name]


def function_module(name: str) -> Any:
    """A module of the Lambda code (functions/), for local tools that share its definitions."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    return importlib.import_module(name)
