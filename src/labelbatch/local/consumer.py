"""The local stand-in for Lambda's SQS poller: one consumer per event source mapping.

While the mapping is Enabled it receives batches with the mapping's batch size and batching window, with as
many pollers as the mapping's current ScalingConfig.MaximumConcurrency allows (a batch run sets it when it
enables the mapping), invokes the real handler, deletes what succeeded and leaves failures to the queue's
visibility timeout and redrive policy, as Lambda does. Each poller invokes in an execution environment of its
own (a process forked from the function's template, see execution_environment.py), created when it first has a
batch and replaced once stopped (after a timeout, for example). moto's own dispatch is switched off
(moto_shims).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from labelbatch.local.deploy.model import EventSourceMappingSpec, FunctionSpec
from labelbatch.local.execution_environment import (
    ExecutionEnvironment,
    FunctionRuntime,
    InvocationError,
    InvocationTimeoutError,
)
from labelbatch.local.lambda_runtime import LambdaContext

log = logging.getLogger(__name__)

# Lambda's poller long-polls; a short wait keeps the consumer responsive to the mapping being disabled.
_RECEIVE_WAIT_SECONDS = 1
_STATE_CHECK_SECONDS = 0.5
# Without a ScalingConfig Lambda scales SQS pollers by itself, starting with five concurrent invocations.
_UNSCALED_CONCURRENCY = 5


@dataclass
class ConsumerStats:
    """What the consumer did, as Lambda's metrics for the function would show it."""

    invocations: int = 0
    timed_out: int = 0
    failed: int = 0
    seconds: float = 0.0
    """Invocation durations, added up (Lambda bills them)."""


class QueueConsumer:
    """Polls one queue for one mapping while the mapping is Enabled."""

    def __init__(
        self,
        *,
        mapping: EventSourceMappingSpec,
        function: FunctionSpec,
        runtime: FunctionRuntime,
        function_arn: str,
        lambda_client: Any,
        sqs_client: Any,
        region: str,
    ) -> None:
        self._mapping = mapping
        self._function = function
        self._runtime = runtime
        self._function_arn = function_arn
        self._lambda = lambda_client
        self._sqs = sqs_client
        self._region = region
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._pollers: list[threading.Thread] = []
        # How many pollers may receive now: 0 while the mapping is not Enabled.
        self._active_pollers = 0
        self._stats_lock = threading.Lock()
        self.stats = ConsumerStats()

    def start(self) -> None:
        self._supervisor = threading.Thread(target=self._supervise, name="consumer", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in [self._supervisor, *self._pollers]:
            if thread is not None:
                thread.join()

    def _supervise(self) -> None:
        """Follow the mapping: how many pollers it allows now, starting the ones that do not exist yet."""
        while not self._stopping.is_set():
            try:
                mapping = self._lambda.get_event_source_mapping(UUID=self._mapping.uuid)
                scaling = mapping.get("ScalingConfig") or {}
                allowed = int(scaling.get("MaximumConcurrency") or _UNSCALED_CONCURRENCY)
                self._active_pollers = allowed if mapping["State"] == "Enabled" else 0
                while len(self._pollers) < self._active_pollers:
                    index = len(self._pollers)
                    thread = threading.Thread(
                        target=self._poll, args=(index,), name=f"poller-{index}", daemon=True
                    )
                    thread.start()
                    self._pollers.append(thread)
            except Exception:
                log.exception("could not read event source mapping %s", self._mapping.uuid)
            self._stopping.wait(_STATE_CHECK_SECONDS)

    def _poll(self, index: int) -> None:
        environment: ExecutionEnvironment | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if index >= self._active_pollers:
                        self._stopping.wait(_STATE_CHECK_SECONDS)
                        continue
                    messages = self._receive_batch()
                    if not messages:
                        continue
                    if environment is None or not environment.running:
                        environment = self._runtime.new_environment()
                    self._process(environment, messages)
                except Exception:
                    # A poller must outlive any single failure, as Lambda's does; the cause is logged.
                    log.exception("poller iteration failed for mapping %s", self._mapping.uuid)
                    self._stopping.wait(_STATE_CHECK_SECONDS)
        finally:
            if environment is not None:
                environment.close()

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self._mapping.batching_window
        while len(batch) < self._mapping.batch_size and not self._stopping.is_set():
            response = self._sqs.receive_message(
                QueueUrl=self._mapping.queue_url,
                MaxNumberOfMessages=min(10, self._mapping.batch_size - len(batch)),
                WaitTimeSeconds=0 if batch else _RECEIVE_WAIT_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(response.get("Messages", []))
            if not batch or time.monotonic() >= window_ends:
                break
        return batch

    def _process(self, environment: ExecutionEnvironment, messages: list[dict[str, Any]]) -> None:
        """Invoke the handler on one batch in `environment` and settle the messages as Lambda would."""
        event = {"Records": [self._record(message) for message in messages]}
        context = LambdaContext(
            function_name=self._function.name,
            memory_limit_in_mb=self._function.memory,
            invoked_function_arn=self._function_arn,
            timeout_seconds=self._function.timeout,
        )
        started = time.monotonic()
        failed_ids: set[str] | None = None
        outcome: Literal["ended", "timed_out", "failed"] = "ended"
        try:
            response = environment.invoke(event, context, timeout=self._function.timeout)
            failed_ids = self._reported_failures(response, messages)
        except InvocationTimeoutError:
            # The environment was stopped, as Lambda stops it; the poller starts a new one for the next batch.
            log.warning("invocation timed out after %s s; batch returns to the queue", self._function.timeout)
            outcome = "timed_out"
        except InvocationError as exc:
            log.error("invocation failed; the whole batch returns to the queue:\n%s", exc)
            outcome = "failed"
        self._settle(messages, failed_ids, started=started, outcome=outcome)

    def _reported_failures(self, response: Any, messages: list[dict[str, Any]]) -> set[str] | None:
        """The message IDs the function reported as failed; None means the whole batch failed."""
        if "ReportBatchItemFailures" not in self._mapping.function_response_types:
            return set()
        if not isinstance(response, dict) or not response.get("batchItemFailures"):
            return set()
        known = {message["MessageId"] for message in messages}
        failed: set[str] = set()
        for failure in response["batchItemFailures"]:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in known:
                # Lambda treats a malformed report as a failure of the whole batch.
                log.warning("invalid batchItemFailures entry %r; the whole batch fails", failure)
                return None
            failed.add(identifier)
        return failed

    def _settle(
        self,
        messages: list[dict[str, Any]],
        failed_ids: set[str] | None,
        *,
        started: float,
        outcome: Literal["ended", "timed_out", "failed"],
    ) -> None:
        succeeded = [] if failed_ids is None else [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(succeeded), 10):
            chunk = succeeded[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        with self._stats_lock:
            self.stats.invocations += 1
            self.stats.timed_out += outcome == "timed_out"
            self.stats.failed += outcome == "failed"
            self.stats.seconds += time.monotonic() - started

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """An SQS message in the shape Lambda delivers it."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self._mapping.queue_arn,
            "awsRegion": self._region,
        }
