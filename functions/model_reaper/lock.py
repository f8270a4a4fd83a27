"""The run lock: one DynamoDB item naming the batch run that currently works, which the reaper shares.

A batch run takes it with a conditional write when it starts and gives it back when it ends. The reaper takes
it before it acts, so that it never stops a model a live run uses, and so gives back the lock of a run that
died holding it, which would otherwise make every later run skip.
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


class LockApi(Protocol):
    def get_item(self, **request: Any) -> Mapping[str, Any]: ...
    def update_item(self, **request: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str
    expires_at: str | None


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
        # A run holds the lock by its execution ARN, a reaper as "reaper:<request ID>".
        if not holder.owner.startswith("arn:"):
            return holder.expires_at is not None and holder.expires_at > _timestamp(self._now())
        try:
            return bool(sfn.describe_execution(executionArn=holder.owner)["status"] == "RUNNING")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise

    def take(self, over: Holder, *, as_owner: str) -> bool:
        """Take the lock from `over` (as last read); False when someone else changed it meanwhile."""
        expires = _timestamp(self._now() + REAPER_HOLD)
        return self._update(
            "SET #owner = :me, expiresAt = :expires",
            "attribute_not_exists(#owner) OR #owner = :seen",
            {":me": as_owner, ":seen": over.owner, ":expires": expires},
        )

    def release(self, owner: str) -> None:
        """Give the lock back, if `owner` still holds it."""
        self._update("SET #owner = :none REMOVE expiresAt", "#owner = :me", {":me": owner, ":none": NO_OWNER})

    def _update(self, update: str, condition: str, values: dict[str, str]) -> bool:
        """Write the lock item if `condition` holds; False when it no longer does."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=LOCK_KEY,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={name: {"S": value} for name, value in values.items()},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _timestamp(moment: datetime) -> str:
    # The format of Step Functions' $$.State.EnteredTime, which the batch run compares it with.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
