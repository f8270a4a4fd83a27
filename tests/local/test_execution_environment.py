"""Execution environments: what a handler writes reaches the log as Lambda's runtime sends it, at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelbatch.local.execution_environment import FunctionRuntime, InvocationTimeoutError
from labelbatch.local.lambda_runtime import LambdaContext


def test_what_an_invocation_wrote_before_its_timeout_is_not_lost(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a handler that logs a line and then outlives the function timeout
    handler = (
        "import time\n\ndef handler(event, context):\n    print('analyzed', event['n'])\n    time.sleep(9)\n"
    )
    (tmp_path / "slow.py").write_text(handler, encoding="utf-8")
    runtime = FunctionRuntime(tmp_path, "slow.handler", {})
    environment = runtime.new_environment()
    context = LambdaContext(
        function_name="slow", memory_limit_in_mb=128, invoked_function_arn="arn", timeout_seconds=2
    )
    # When the invocation times out and its environment is stopped, as Lambda stops it
    try:
        with pytest.raises(InvocationTimeoutError):
            environment.invoke({"n": 7}, context, timeout=2)
    finally:
        environment.close()
        runtime.close()
    # Then the line it wrote is in the log (Lambda's runtime writes each line through, unbuffered)
    assert "analyzed 7" in capfd.readouterr().err
