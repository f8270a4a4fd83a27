"""The run lock: one DynamoDB item naming the batch run that currently works, which the reaper shares.

A batch run takes the lock with a conditional write when it starts and gives it back when it ends. The
reaper takes it too before it acts, so that it never stops a model a live run uses; and it gives back the lock
of a run that died holding it (stopped from outside, or failed where its own switch-off could not run), which
would otherwise make every later run skip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

NO_OWNER: Final = "none"
LOCK_KEY: Final = {"pk": {"S": "batch-run"}}
# A reaper's hold expires on its own: after its function timeout it cannot be alive.
REAPER_HOLD: Final = timedelta(minutes=2)
_EXECUTION_ARN_PREFIX: Final = "arn:"


class LockApi(Protocol):
    """The DynamoDB operations the lock needs: botocore's client, or a stand-in in tests."""

    def get_item(self, **request: Any) -> Mapping[str, Any]: ...

    def update_item(self, **request: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str
    expires_at: str | None

    @property
    def is_run(self) -> bool:
        return self.owner.startswith(_EXECUTION_ARN_PREFIX)


class RunLock:
    def __init__(self, dynamodb: LockApi, table: str, *, now: Callable[[], datetime] | None = None) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now or (lambda: datetime.now(UTC))

    def holder(self) -> Holder:
        response = self._dynamodb.get_item(TableName=self._table, Key=LOCK_KEY, ConsistentRead=True)
        item = response.get("Item", {})
        owner = item.get("owner", {}).get("S", NO_OWNER)
        return Holder(owner=owner, expires_at=item.get("expiresAt", {}).get("S"))

    def is_alive(self, holder: Holder, sfn: SFNClient) -> bool:
        """Whether `holder` may still act: a run still RUNNING, or a reaper whose hold has not expired."""
        if holder.owner == NO_OWNER:
            return False
        if holder.is_run:
            try:
                status = sfn.describe_execution(executionArn=holder.owner)["status"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                    return False
                raise
            return bool(status == "RUNNING")
        return holder.expires_at is not None and holder.expires_at > self._timestamp(self._now())

    def take(self, over: Holder, *, as_owner: str) -> bool:
        """Take the lock from `over` (as last read); False when someone else changed it meanwhile."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=LOCK_KEY,
                UpdateExpression="SET #owner = :me, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(#owner) OR #owner = :seen",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":me": {"S": as_owner},
                    ":seen": {"S": over.owner},
                    ":expires": {"S": self._timestamp(self._now() + REAPER_HOLD)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, owner: str) -> None:
        """Give the lock back, if `owner` still holds it."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=LOCK_KEY,
                UpdateExpression="SET #owner = :none REMOVE expiresAt",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}, ":none": {"S": NO_OWNER}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    @staticmethod
    def _timestamp(moment: datetime) -> str:
        # The format of Step Functions' $$.State.EnteredTime, which the batch run compares it with.
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
