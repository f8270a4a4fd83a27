"""Reading the S3 event notification carried in the body of an image-queue message.

Powertools' S3 event classes and parser models do not fit: neither knows S3's s3:TestEvent, the classes decode
only the first record's key and check nothing, and the models require fields that S3-compatible stores (the
local stack's among them) leave out. S3 URL-encodes keys (a space as '+', a literal '+' as %2B, non-ASCII as
UTF-8 %XX): they are decoded here, once, so that the rest of the function only sees real keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

TEST_EVENT: Final = "s3:TestEvent"


class InvalidNotificationError(ValueError):
    """The message is not an S3 notification this function may act on: no retry can fix it, so it goes to the
    dead-letter queue at once, with this reason, instead of being dropped."""


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One record of an S3 event notification."""

    event_name: str
    bucket: str
    key: str
    version_id: str | None
    e_tag: str | None
    size: int | None

    @property
    def is_object_created(self) -> bool:
        # S3 writes event names without the "s3:" prefix in records, for example "ObjectCreated:Put".
        return self.event_name.startswith("ObjectCreated:")


def parse_notification(body: str, *, expected_bucket: str) -> list[ObjectEvent]:
    """The object events of one message body, in the order S3 listed them; none for the s3:TestEvent (and
    only for it). Every record is checked first, so a message is acted on whole or rejected whole."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidNotificationError("message body is not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidNotificationError("message body is not an S3 event notification (not a JSON object)")
    if payload.get("Event") == TEST_EVENT:
        return []
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidNotificationError("message body is not an S3 event notification (no Records)")
    return [_parse_record(record, expected_bucket) for record in records]


def _parse_record(record: Any, expected_bucket: str) -> ObjectEvent:
    if _field(record, "eventSource") != "aws:s3":
        raise InvalidNotificationError("record is not an S3 event record (eventSource is not aws:s3)")
    bucket = _text(record, "s3", "bucket", "name")
    if bucket != expected_bucket:
        # The queue policy admits only our bucket: a record for another one is a misconfigured notification.
        raise InvalidNotificationError(
            f"record is for bucket {bucket!r}, this function reads only {expected_bucket!r}"
        )
    raw_key = _text(record, "s3", "object", "key")
    # Reaching the key proved that s3.object is a JSON object.
    s3_object: dict[str, Any] = record["s3"]["object"]
    size = s3_object.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise InvalidNotificationError("S3 event record has a non-integer s3.object.size")
    return ObjectEvent(
        event_name=_text(record, "eventName"),
        bucket=bucket,
        key=unquote_plus(raw_key),
        version_id=_optional_text(s3_object, "versionId"),
        e_tag=_optional_text(s3_object, "eTag"),
        size=size,
    )


def _field(container: Any, *path: str) -> Any:
    value = container
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise InvalidNotificationError(f"S3 event record has no {'.'.join(path)}")
        value = value[name]
    return value


def _text(container: Any, *path: str) -> str:
    value = _field(container, *path)
    if not isinstance(value, str):
        raise InvalidNotificationError(f"S3 event record has a non-string {'.'.join(path)}")
    return value


def _optional_text(s3_object: dict[str, Any], name: str) -> str | None:
    value = s3_object.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidNotificationError(f"S3 event record has a non-string s3.object.{name}")
    return value
