"""AnalyzeImageFunction through its handler: SQS batches in; result documents, retried and dead-lettered
messages, and batchItemFailures out."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from analyze_image import app
from analyze_image.settings import SettingsError

BUCKET = "labelbatch-images-example"
# The queues of conftest.function_environment.
IMAGE_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-ImageQueue-EXAMPLE"
DEAD_LETTER_QUEUE_URL = (
    "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-ImageDeadLetterQueue-EXAMPLE"
)

# The upload in events/sqs_object_created_encoded_key.json, decoded.
ENCODED_EVENT_KEY = "images/plant 7/line+2/2025/11/21/100% crème brûlée/IMG 0001.JPG"
ENCODED_EVENT_RESULT = "results/plant 7/line+2/2025/11/21/100% crème brûlée/IMG 0001.JPG.json"
ENCODED_EVENT_VERSION = "Wvd2rKJcS.L8nZ_3pQ1YV0gHk7hXz9mA"

MISSING_OBJECT_MESSAGE = "The object no longer exists in S3: it was deleted before it could be analyzed."
THROTTLING_CODES = ["ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException"]


def assert_analyzed_between(analyzed_at: str, before: datetime, after: datetime) -> None:
    """analyzedAt is UTC ISO-8601 with milliseconds and a Z, taken while the handler ran."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", analyzed_at), analyzed_at
    moment = datetime.fromisoformat(analyzed_at)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= moment <= after


def image_info(key: str, *, version: str | None = None, e_tag: str, size: int) -> dict[str, Any]:
    return {"bucket": BUCKET, "key": key, "versionId": version, "eTag": e_tag, "size": size}


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """The one CloudWatch embedded-metric-format document the invocation printed."""
    documents = [
        json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line
    ]
    assert len(documents) == 1, stdout
    return documents[0]


def failure_lines(log_records) -> list[dict[str, Any]]:
    """The "message failed" log lines, sorted by messageId: what failed, why, and what became of it."""
    fields = ("level", "messageId", "reason", "attempt", "retryAfterSeconds", "deadLettered")
    lines = [
        {name: line[name] for name in fields if name in line}
        for line in log_records()
        if line["message"] == "message failed"
    ]
    return sorted(lines, key=lambda line: line["messageId"])


def retried(message_id: str, reason: str, *, attempt: int = 1, delay: int = 10) -> dict[str, Any]:
    """The log line of a message put back on the image queue."""
    return {
        "level": "WARNING",
        "messageId": message_id,
        "reason": reason,
        "attempt": attempt,
        "retryAfterSeconds": delay,
    }


def dead_lettered(message_id: str, reason: str) -> dict[str, Any]:
    """The log line of a message sent to the dead-letter queue."""
    return {"level": "ERROR", "messageId": message_id, "reason": reason, "deadLettered": True}


def errors_logged(log_records) -> list[dict[str, Any]]:
    """Lines at ERROR or above, and any line carrying a traceback."""
    return [line for line in log_records() if line["level"] in {"ERROR", "CRITICAL"} or "exception" in line]


def _retry(
    body: str, message_id: str, *, delay: int, attempt: int, first: str | None = None
) -> dict[str, Any]:
    """The SendMessage request that puts a failed message back on the image queue for attempt `attempt`."""
    return {
        "QueueUrl": IMAGE_QUEUE_URL,
        "MessageBody": body,
        "DelaySeconds": delay,
        "MessageAttributes": {
            "labelbatch-first-message-id": {"DataType": "String", "StringValue": first or message_id},
            "labelbatch-attempt": {"DataType": "Number", "StringValue": str(attempt)},
        },
    }


def _dead_letter(body: str, message_id: str, reason: str, *, first: str | None = None) -> dict[str, Any]:
    """The SendMessage request that puts a message on the dead-letter queue with its reason."""
    return {
        "QueueUrl": DEAD_LETTER_QUEUE_URL,
        "MessageBody": body,
        "MessageAttributes": {
            "labelbatch-first-message-id": {"DataType": "String", "StringValue": first or message_id},
            "labelbatch-failure": {"DataType": "String", "StringValue": reason},
        },
    }


def batch_with_one_refused_image(
    rekognition, make_notification, make_sqs_event, *, name, code, **error
) -> dict[str, Any]:
    """Messages m-<name> and m-good: DetectCustomLabels answers `code` for images/<name>.jpg and labels for
    images/good.jpg."""
    rekognition.expect_error(f"images/{name}.jpg", code, **error)
    rekognition.expect_labels("images/good.jpg")
    return make_sqs_event(
        (f"m-{name}", make_notification(f"images/{name}.jpg")),
        ("m-good", make_notification("images/good.jpg")),
    )


@pytest.fixture(autouse=True)
def sqs(queues):
    """Every test here runs the function against the recording image and dead-letter queues."""
    return queues


# ---------------------------------------------------------------------------- results


def test_a_good_image_gets_the_complete_result_document(
    rekognition, bucket, load_event, lambda_context, labels, function_environment, sqs
):
    # Given an upload to a versioned bucket whose key S3 had to URL-encode
    event = load_event("sqs_object_created_encoded_key.json")
    rekognition.expect_labels(ENCODED_EVENT_KEY, version=ENCODED_EVENT_VERSION)
    before = datetime.now(UTC)

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then no record fails, nothing is retried, and one JSON result sits under the results prefix, at the
    # decoded relative key
    after = datetime.now(UTC)
    assert response == {"batchItemFailures": []}
    assert sqs.sent == []
    assert bucket.result_keys() == [ENCODED_EVENT_RESULT]
    document, content_type = bucket.read_result(ENCODED_EVENT_RESULT)
    assert content_type == "application/json"
    assert_analyzed_between(document.pop("analyzedAt"), before, after)
    assert document == {
        "schemaVersion": 1,
        "status": "ok",
        "image": image_info(
            ENCODED_EVENT_KEY,
            version=ENCODED_EVENT_VERSION,
            e_tag="9b2cf535f27731c974343645a3985328",
            size=482113,
        ),
        "model": {"projectVersionArn": function_environment["PROJECT_VERSION_ARN"]},
        "minConfidence": None,
        "customLabels": labels,
        "error": None,
    }


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        pytest.param("", None, id="unset-uses-model-thresholds"),
        pytest.param("72.5", 72.5, id="set"),
        pytest.param("0", 0.0, id="zero-returns-every-label"),
    ],
)
def test_min_confidence_is_sent_only_when_set(
    configured, sent, monkeypatch, rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given a MinConfidence setting (the stand-in checks the exact request: MinConfidence absent when unset)
    monkeypatch.setenv("MIN_CONFIDENCE", configured)
    rekognition.expect_labels("images/a.jpg", min_confidence=sent)

    # When an image is analyzed
    response = app.handler(make_sqs_event(("m-1", make_notification("images/a.jpg"))), lambda_context)

    # Then the result records the MinConfidence that was sent
    assert response == {"batchItemFailures": []}
    document, _ = bucket.read_result("results/a.jpg.json")
    assert document["minConfidence"] == sent


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(None, id="unversioned-bucket"),
        # S3 does not URL-encode version IDs: a '+' in one must reach Rekognition as it is.
        pytest.param("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", id="versioned-bucket"),
    ],
)
def test_the_uploaded_version_is_analyzed_when_the_event_names_one(
    version, rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given an event with or without a versionId (the stand-in checks that Version is sent exactly then)
    rekognition.expect_labels("images/a.jpg", version=version)

    # When the function handles it
    response = app.handler(
        make_sqs_event(("m-1", make_notification("images/a.jpg", version_id=version))), lambda_context
    )

    # Then the result names the same version
    assert response == {"batchItemFailures": []}
    document, _ = bucket.read_result("results/a.jpg.json")
    assert document["image"]["versionId"] == version


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidImageFormatException", "Request has invalid image format"),
        ("ImageTooLargeException", "Image size is too large."),
        # What Rekognition answers for an image outside its pixel-dimension limits.
        ("InvalidParameterException", "Request has Invalid Parameters"),
    ],
)
def test_an_image_rekognition_cannot_analyze_gets_an_error_result(
    code,
    message,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    function_environment,
    sqs,
):
    # Given an image Rekognition refuses for good
    rekognition.expect_error("images/notes.txt", code, message=message)
    before = datetime.now(UTC)

    # When the function handles it
    response = app.handler(
        make_sqs_event(("m-1", make_notification("images/notes.txt", size=12, e_tag="abc123"))),
        lambda_context,
    )

    # Then the message is done with (not retried), and the team finds why in an error result instead of labels
    after = datetime.now(UTC)
    assert response == {"batchItemFailures": []}
    assert sqs.sent == []
    document, content_type = bucket.read_result("results/notes.txt.json")
    assert content_type == "application/json"
    assert_analyzed_between(document.pop("analyzedAt"), before, after)
    assert document == {
        "schemaVersion": 1,
        "status": "error",
        "image": image_info("images/notes.txt", e_tag="abc123", size=12),
        "model": {"projectVersionArn": function_environment["PROJECT_VERSION_ARN"]},
        "minConfidence": None,
        "customLabels": None,
        "error": {"code": code, "message": message},
    }


def test_an_image_deleted_before_analysis_gets_an_error_result(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given an announced image that is no longer in the bucket, which Rekognition reports as InvalidS3Object
    rekognition.expect_error(
        "images/gone.jpg",
        "InvalidS3ObjectException",
        message="Unable to get object metadata from S3. Check object key, region and/or access permissions.",
    )

    # When the function handles it
    response = app.handler(make_sqs_event(("m-1", make_notification("images/gone.jpg"))), lambda_context)

    # Then an error result says the object is gone, rather than Rekognition's hint at permissions
    assert response == {"batchItemFailures": []}
    assert sqs.sent == []
    document, _ = bucket.read_result("results/gone.jpg.json")
    assert document["status"] == "error"
    assert document["customLabels"] is None
    assert document["error"] == {"code": "InvalidS3ObjectException", "message": MISSING_OBJECT_MESSAGE}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_s3_test_event_is_acknowledged_and_ignored(
    rekognition, bucket, load_event, lambda_context, log_records, sqs
):
    # Given the message S3 sends when the notification is configured
    event = load_event("sqs_test_event.json")

    # When the function handles it (the stand-in expects no call)
    response = app.handler(event, lambda_context)

    # Then it is deleted from the queue without any result, retry or dead letter
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == []
    assert sqs.sent == []
    ignored = [line for line in log_records() if line["message"] == "ignored"]
    assert [(line["reason"], line["messageId"]) for line in ignored] == [
        ("s3:TestEvent", event["Records"][0]["messageId"])
    ]


@pytest.mark.parametrize(
    ("key", "result_key"),
    [
        pytest.param("images/summer holiday.jpg", "results/summer holiday.jpg.json", id="space"),
        pytest.param("images/a+b.png", "results/a+b.png.json", id="plus"),
        pytest.param("images/100%.jpg", "results/100%.jpg.json", id="percent"),
        pytest.param("images/%2B as text.jpg", "results/%2B as text.jpg.json", id="encoded-looking-text"),
        pytest.param("images/café/naïve ☕.jpeg", "results/café/naïve ☕.jpeg.json", id="unicode"),
        pytest.param(
            "images/2025/11/21/line 3/cam-07/frame.JPG",
            "results/2025/11/21/line 3/cam-07/frame.JPG.json",
            id="deep",
        ),
    ],
)
def test_encoded_keys_are_analyzed_and_stored_under_their_real_names(
    key, result_key, rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given a notification whose key S3 URL-encoded (the stand-in expects the real key)
    rekognition.expect_labels(key)

    # When the function handles it
    response = app.handler(make_sqs_event(("m-1", make_notification(key))), lambda_context)

    # Then the result key is the real key, relative to the input prefix, plus .json
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == [result_key]
    document, _ = bucket.read_result(result_key)
    assert document["image"]["key"] == key


def test_every_record_of_one_message_is_analyzed(rekognition, bucket, load_event, lambda_context, labels):
    # Given one message whose notification carries three records from an unversioned bucket
    event = load_event("sqs_multiple_records.json")
    rekognition.expect_labels("images/line-1/a.jpg", labels=labels[:1])
    rekognition.expect_labels("images/line-1/b.png", labels=[])
    rekognition.expect_labels("images/line-2/shift b/c.jpeg", labels=labels)

    # When the function handles it
    response = app.handler(event, lambda_context)

    # Then each image has its own result, with the metadata of its own record, asked in the message's order
    assert response == {"batchItemFailures": []}
    assert rekognition.keys_asked() == [
        "images/line-1/a.jpg",
        "images/line-1/b.png",
        "images/line-2/shift b/c.jpeg",
    ]
    assert bucket.result_keys() == [
        "results/line-1/a.jpg.json",
        "results/line-1/b.png.json",
        "results/line-2/shift b/c.jpeg.json",
    ]
    expected = {
        "results/line-1/a.jpg.json": (
            image_info("images/line-1/a.jpg", e_tag="0d5a1c9e7b3f2a4c6e8d0b1a3c5e7f90", size=102400),
            labels[:1],
        ),
        "results/line-1/b.png.json": (
            image_info("images/line-1/b.png", e_tag="5c3e1a9f7d2b4c6e8a0f1d3b5e7c9a2d-2", size=9437184),
            [],
        ),
        "results/line-2/shift b/c.jpeg.json": (
            image_info("images/line-2/shift b/c.jpeg", e_tag="a7c9e1b3d5f7092b4d6f8a0c2e4b6d8f", size=230512),
            labels,
        ),
    }
    for result_key, (image, image_labels) in expected.items():
        document, _ = bucket.read_result(result_key)
        assert (document["status"], document["image"], document["customLabels"]) == (
            "ok",
            image,
            image_labels,
        )


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    ("input_prefix", "key", "event_name", "reason"),
    [
        ("images/", "uploads/photo.jpg", "ObjectCreated:Put", "outside the input prefix"),
        # With the whole bucket as input, the results are inside the watched scope.
        ("", "results/photo.jpg.json", "ObjectCreated:Put", "under the results prefix"),
        ("images/", "images/new folder/", "ObjectCreated:Put", "folder marker"),
        ("images/", "images/photo.jpg", "ObjectRemoved:Delete", "not an ObjectCreated event"),
    ],
)
def test_objects_that_are_not_new_input_images_are_ignored(
    input_prefix,
    key,
    event_name,
    reason,
    monkeypatch,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    log_records,
    sqs,
):
    # Given a notification for something that is not a new image under the input prefix
    monkeypatch.setenv("INPUT_PREFIX", input_prefix)
    event = make_sqs_event(("m-1", make_notification(key, event_name=event_name)))

    # When the function handles it (the stand-in expects no call)
    response = app.handler(event, lambda_context)

    # Then the message is acknowledged, nothing is written or sent, and the log says why
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == []
    assert sqs.sent == []
    ignored = [line for line in log_records() if line["message"] == "ignored"]
    assert [(line["reason"], line["key"], line["eventName"]) for line in ignored] == [
        (reason, key, event_name)
    ]


def test_a_redelivered_message_rewrites_the_same_result(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
):
    # Given a message that is delivered twice (SQS delivers at least once), the model answering differently
    event = make_sqs_event(("m-1", make_notification("images/a.jpg")))
    rekognition.expect_labels("images/a.jpg", labels=labels)
    rekognition.expect_labels("images/a.jpg", labels=labels[1:])

    # When the function handles both deliveries
    app.handler(event, lambda_context)
    app.handler(event, lambda_context)

    # Then there is still one result, holding the latest answer
    assert bucket.result_keys() == ["results/a.jpg.json"]
    document, _ = bucket.read_result("results/a.jpg.json")
    assert document["customLabels"] == labels[1:]


def test_notifications_as_s3_really_sends_them_are_understood(
    rekognition, bucket, make_sqs_event, lambda_context
):
    # Given a bucket notifying a queue (moto sends the s3:TestEvent and encodes keys the way S3 does)
    notified = boto3.client("sqs")
    queue_url = notified.create_queue(QueueName="image-queue")["QueueUrl"]
    queue_arn = notified.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bucket.client.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}},
                }
            ]
        },
    )
    key = "images/line 2/ünï+cødé 100%.jpg"
    bucket.put_image(key)
    messages = notified.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"]).get("Event") for message in messages] == ["s3:TestEvent", None]
    rekognition.expect_labels(key)

    # When the function handles what the queue delivered
    response = app.handler(
        make_sqs_event(*[(message["MessageId"], message["Body"]) for message in messages]), lambda_context
    )

    # Then the test event is acknowledged and the image analyzed under its real name
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == ["results/line 2/ünï+cødé 100%.jpg.json"]


def test_the_images_of_a_batch_are_analyzed_side_by_side(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given two messages whose model calls each wait until the other call has started too (one after the
    # other, the first would wait in vain, and its image would fail)
    both_calling = threading.Barrier(2, timeout=10)
    rekognition.expect_labels("images/a.jpg", meanwhile=both_calling.wait)
    rekognition.expect_labels("images/b.jpg", meanwhile=both_calling.wait)
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")), ("m-b", make_notification("images/b.jpg"))
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then both calls were in flight at once and both images have their results
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == ["results/a.jpg.json", "results/b.jpg.json"]


# ---------------------------------------------------------------------------- the model pushing back


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_a_throttled_image_is_asked_again_until_the_model_answers(
    code, rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given a model at capacity that throttles an image three times before answering
    for _ in range(3):
        rekognition.expect_error("images/busy.jpg", code, message="Provisioned rate exceeded")
    rekognition.expect_labels("images/busy.jpg")

    # When the function handles it
    response = app.handler(make_sqs_event(("m-busy", make_notification("images/busy.jpg"))), lambda_context)

    # Then the image gets its result within the same invocation, nothing is retried later, and throttling is
    # no error in the log
    assert response == {"batchItemFailures": []}
    assert rekognition.keys_asked() == ["images/busy.jpg"] * 4
    assert bucket.result_keys() == ["results/busy.jpg.json"]
    assert sqs.sent == []
    assert errors_logged(log_records) == []
    assert failure_lines(log_records) == []


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(("InternalServerError", 500), id="500"),
        pytest.param(("ServiceUnavailable", 503), id="503"),
        pytest.param(
            ReadTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"), id="timeout"
        ),
    ],
)
def test_a_service_fault_is_tried_again_at_once(
    fault, rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given a model endpoint that fails twice for an image, then answers
    for _ in range(2):
        if isinstance(fault, tuple):
            rekognition.expect_error("images/a.jpg", fault[0], status=fault[1])
        else:
            rekognition.expect_failure("images/a.jpg", fault)
    rekognition.expect_labels("images/a.jpg")

    # When the function handles it
    response = app.handler(make_sqs_event(("m-a", make_notification("images/a.jpg"))), lambda_context)

    # Then the third try, in the same invocation, gives the image its result
    assert response == {"batchItemFailures": []}
    assert rekognition.keys_asked() == ["images/a.jpg"] * 3
    assert bucket.result_keys() == ["results/a.jpg.json"]
    assert sqs.sent == []


@pytest.mark.parametrize(
    ("code", "status", "calls"),
    [
        # Anything outside the image but a fault of the service is asked once: a retry later may succeed
        # (the model is being started) or a fix of the configuration may (permissions, a wrong ARN).
        ("ResourceNotReadyException", 400, 1),
        ("AccessDeniedException", 400, 1),
        ("ResourceNotFoundException", 400, 1),
        # A fault of the service gets three tries in all.
        ("InternalServerError", 500, 3),
        ("ServiceUnavailable", 503, 3),
    ],
)
def test_an_error_outside_the_image_retries_its_message_later(
    code,
    status,
    calls,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    log_records,
    sqs,
):
    # Given a batch where DetectCustomLabels fails for one image and works for the next
    for _ in range(calls):
        rekognition.expect_error("images/unlucky.jpg", code, status=status)
    rekognition.expect_labels("images/good.jpg")
    body = make_notification("images/unlucky.jpg")
    event = make_sqs_event(("m-unlucky", body), ("m-good", make_notification("images/good.jpg")))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then no record fails: that message is put back on the image queue for a second attempt in
    # RETRY_DELAY_SECONDS, without a result, and the log names image and error; the other image has its result
    reason = f"DetectCustomLabels failed with {code} for s3://{BUCKET}/images/unlucky.jpg"
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(body, "m-unlucky", delay=10, attempt=2)]
    assert bucket.result_keys() == ["results/good.jpg.json"]
    assert failure_lines(log_records) == [retried("m-unlucky", reason)]


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
        ConnectTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
        EndpointConnectionError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
    ],
    ids=["read-timeout", "connect-timeout", "connection-error"],
)
def test_a_model_that_does_not_answer_retries_its_message_later(
    error, rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given a model endpoint that does not answer for one image, three times in a row
    for _ in range(3):
        rekognition.expect_failure("images/slow.jpg", error)
    rekognition.expect_labels("images/good.jpg")
    body = make_notification("images/slow.jpg")
    event = make_sqs_event(("m-slow", body), ("m-good", make_notification("images/good.jpg")))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that message is retried later, and the log names the image and the error
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(body, "m-slow", delay=10, attempt=2)]
    assert failure_lines(log_records) == [
        retried("m-slow", f"DetectCustomLabels did not answer for s3://{BUCKET}/images/slow.jpg: {error}")
    ]
    assert bucket.result_keys() == ["results/good.jpg.json"]


def test_an_existing_image_rekognition_may_not_read_retries_its_message_later(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given an image that exists but that Rekognition cannot read (the role or a KMS key forbids it),
    # next to a good image
    bucket.put_image("images/locked.jpg")
    event = batch_with_one_refused_image(
        rekognition,
        make_notification,
        make_sqs_event,
        name="locked",
        code="InvalidS3ObjectException",
        message="Unable to get object",
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that message is retried later without an error result: fixing the configuration will analyze it
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(make_notification("images/locked.jpg"), "m-locked", delay=10, attempt=2)]
    assert bucket.result_keys() == ["results/good.jpg.json"]
    assert failure_lines(log_records) == [
        retried(
            "m-locked",
            f"Rekognition could not read s3://{BUCKET}/images/locked.jpg, which exists: check that the"
            " function's role may read it (s3:GetObject, and kms:Decrypt if a KMS key encrypts it)",
        )
    ]


def test_a_result_s3_refuses_to_store_retries_its_message_later(
    monkeypatch, rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given a bucket that refuses the result write (a bucket policy, say)
    class RefusingWrites:
        def __getattr__(self, name: str) -> Any:
            return getattr(bucket.client, name)

        def put_object(self, **request: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")

    monkeypatch.setattr(app, "s3_client", RefusingWrites)
    rekognition.expect_labels("images/a.jpg")
    body = make_notification("images/a.jpg")

    # When the function handles the image
    response = app.handler(make_sqs_event(("m-a", body)), lambda_context)

    # Then the message is retried later, with S3's answer as the reason
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(body, "m-a", delay=10, attempt=2)]
    assert failure_lines(log_records) == [
        retried("m-a", "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied")
    ]


def test_a_failing_image_retries_its_whole_message(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given a two-record message whose second image cannot be analyzed yet, next to a good message
    two_records = json.dumps(
        {
            "Records": [
                json.loads(make_notification("images/first.jpg"))["Records"][0],
                json.loads(make_notification("images/second.jpg"))["Records"][0],
            ]
        }
    )
    rekognition.expect_labels("images/first.jpg")
    rekognition.expect_error("images/second.jpg", "ResourceNotReadyException")
    rekognition.expect_labels("images/other.jpg")
    event = make_sqs_event(("m-two", two_records), ("m-other", make_notification("images/other.jpg")))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then the whole message, unchanged, goes back for another attempt; the first image's result is kept and
    # the retry rewrites it in place
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(two_records, "m-two", delay=10, attempt=2)]
    assert bucket.result_keys() == ["results/first.jpg.json", "results/other.jpg.json"]


# ---------------------------------------------------------------------------- retries and dead letters


@pytest.mark.parametrize(
    ("attributes", "receive_count", "delay", "next_attempt", "first"),
    [
        # A message as S3 sent it, even one SQS delivers again after a crashed invocation: the attempt count
        # is the function's own, not the queue's receive count (the redrive policy keeps that one).
        pytest.param({}, 1, 10, 2, "m-retry", id="first-attempt"),
        pytest.param({}, 3, 10, 2, "m-retry", id="first-attempt-redelivered-by-sqs"),
        *[
            pytest.param(
                {
                    "labelbatch-attempt": ("Number", str(attempt)),
                    "labelbatch-first-message-id": ("String", "m-1st"),
                },
                1,
                delay,
                attempt + 1,
                "m-1st",
                id=f"attempt-{attempt}",
            )
            for attempt, delay in [(2, 20), (3, 40), (4, 80)]
        ],
    ],
)
def test_a_failed_message_waits_twice_as_long_after_each_attempt(
    attributes,
    receive_count,
    delay,
    next_attempt,
    first,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    log_records,
    sqs,
):
    # Given a message on one of its attempts (first received as m-1st), whose image fails again
    rekognition.expect_error("images/busy.jpg", "ResourceNotReadyException")
    body = make_notification("images/busy.jpg")
    event = make_sqs_event(("m-retry", body), receive_count=receive_count, attributes=attributes)

    # When the function handles it
    response = app.handler(event, lambda_context)

    # Then it goes back on the image queue delayed by RETRY_DELAY_SECONDS (10) doubled per earlier attempt,
    # with the next attempt's number and the ID of the first message, which follows the image to the end
    reason = f"DetectCustomLabels failed with ResourceNotReadyException for s3://{BUCKET}/images/busy.jpg"
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_retry(body, "m-retry", delay=delay, attempt=next_attempt, first=first)]
    assert failure_lines(log_records) == [retried("m-retry", reason, attempt=next_attempt - 1, delay=delay)]


def test_the_fifth_failure_sends_the_message_to_the_dead_letter_queue(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given a message on its fifth attempt whose image fails again
    rekognition.expect_error("images/busy.jpg", "ResourceNotReadyException")
    body = make_notification("images/busy.jpg")
    attributes = {"labelbatch-attempt": ("Number", "5"), "labelbatch-first-message-id": ("String", "m-1st")}
    event = make_sqs_event(("m-fifth", body), attributes=attributes)

    # When the function handles it
    response = app.handler(event, lambda_context)

    # Then it goes to the dead-letter queue with its reason instead of coming back, and the log says so
    reason = (
        f"DetectCustomLabels failed with ResourceNotReadyException for s3://{BUCKET}/images/busy.jpg"
        " (attempt 5 of 5)"
    )
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [_dead_letter(body, "m-fifth", reason, first="m-1st")]
    assert failure_lines(log_records) == [dead_lettered("m-fifth", reason)]


RETRIED_SAMPLE_KEY = "images/line-3/retry/part 0042.jpg"
RETRIED_SAMPLE_FIRST_ID = "7c1d5e8a-3f2b-4a6c-9d0e-1b2a3c4d5e6f"


def test_a_retried_message_whose_image_is_answered_is_done(
    rekognition, bucket, load_event, lambda_context, log_records, sqs
):
    # Given a message the function put back for its third attempt, as Lambda delivers it
    event = load_event("sqs_retried_message.json")
    rekognition.expect_labels(RETRIED_SAMPLE_KEY)

    # When the function handles it and the model answers
    response = app.handler(event, lambda_context)

    # Then the image has its result and the message ends there: nothing is sent anywhere
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == ["results/line-3/retry/part 0042.jpg.json"]
    assert sqs.sent == []
    assert failure_lines(log_records) == []


def test_a_retried_message_that_fails_again_goes_back_for_its_next_attempt(
    rekognition, bucket, load_event, lambda_context, sqs
):
    # Given a message on its third attempt (the sample), whose image fails again
    event = load_event("sqs_retried_message.json")
    record = event["Records"][0]
    rekognition.expect_error(RETRIED_SAMPLE_KEY, "ResourceNotReadyException")

    # When the function handles it
    response = app.handler(event, lambda_context)

    # Then it goes back for attempt 4 after 40 s, still naming the first message
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [
        _retry(record["body"], record["messageId"], delay=40, attempt=4, first=RETRIED_SAMPLE_FIRST_ID)
    ]


def test_a_mixed_batch_dead_letters_exactly_the_bad_messages(
    rekognition, bucket, load_event, lambda_context, log_records, sqs
):
    # Given a batch with a good image, a body that is not JSON, a record for another bucket, a test event,
    # an EventBridge-shaped event and an object outside the input prefix
    event = load_event("sqs_mixed_batch.json")
    records = event["Records"]
    rekognition.expect_labels("images/mixed/good.jpg")

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then exactly the three messages no retry can fix go straight to the dead-letter queue, each with its
    # reason in the message and in the log; no record fails, and the good image has its result
    reasons = {
        1: "message body is not JSON",
        2: f"record is for bucket 'someone-elses-bucket', this function reads only '{BUCKET}'",
        4: "message body is not an S3 event notification (no Records)",
    }
    assert response == {"batchItemFailures": []}
    assert sqs.messages() == [
        _dead_letter(records[i]["body"], records[i]["messageId"], reason) for i, reason in reasons.items()
    ]
    assert sqs.visibility_changes == []
    assert bucket.result_keys() == ["results/mixed/good.jpg.json"]
    assert failure_lines(log_records) == [
        dead_lettered(records[i]["messageId"], reason) for i, reason in reasons.items()
    ]


def test_a_message_naming_another_bucket_is_dead_lettered_whole(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given one message with a record for our bucket and one for another bucket, next to a good message
    mixed = json.dumps(
        {
            "Records": [
                json.loads(make_notification("images/ours.jpg"))["Records"][0],
                json.loads(make_notification("images/theirs.jpg", bucket="someone-elses-bucket"))["Records"][
                    0
                ],
            ]
        }
    )
    rekognition.expect_labels("images/good.jpg")
    event = make_sqs_event(("m-mixed", mixed), ("m-good", make_notification("images/good.jpg")))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that message is dead-lettered before any of its images is analyzed (no call for ours.jpg)
    assert response == {"batchItemFailures": []}
    assert rekognition.keys_asked() == ["images/good.jpg"]
    assert sqs.messages() == [
        _dead_letter(
            mixed,
            "m-mixed",
            f"record is for bucket 'someone-elses-bucket', this function reads only '{BUCKET}'",
        )
    ]
    assert bucket.result_keys() == ["results/good.jpg.json"]


def test_an_image_whose_result_key_would_be_too_long_is_dead_lettered_without_calling_the_model(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given a valid 1,019-byte image key, whose result key would be 1,025 bytes (results/ in place of images/,
    # plus .json), next to the longest image key whose result fits: 1,018 bytes give exactly 1,024
    too_long = "images/" + "k" * 1012
    longest = "images/" + "k" * 1011
    rekognition.expect_labels(longest)
    body = make_notification(too_long)
    event = make_sqs_event(("m-long", body), ("m-fits", make_notification(longest)))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that message goes to the dead-letter queue without an inference, with the reason; the other image
    # gets its result
    reason = (
        f"the result key for {too_long!r} would be 1025 bytes, over S3's 1024-byte limit: "
        "shorten the image key"
    )
    assert response == {"batchItemFailures": []}
    assert rekognition.keys_asked() == [longest]
    assert sqs.messages() == [_dead_letter(body, "m-long", reason)]
    assert bucket.result_keys() == ["results/" + "k" * 1011 + ".json"]
    assert failure_lines(log_records) == [dead_lettered("m-long", reason)]


def test_a_retry_sqs_refuses_fails_the_record_so_that_the_queue_delivers_it_again(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given an image queue that refuses the retry message (the role lost sqs:SendMessage, say)
    sqs.refuse("SendMessage", "AccessDenied", "Access to the resource is denied.")
    event = batch_with_one_refused_image(
        rekognition, make_notification, make_sqs_event, name="busy", code="ResourceNotReadyException"
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that record fails alone: it is not deleted, and comes back after the queue's visibility timeout
    # (in the end the redrive policy dead-letters it); the other image has its result
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert sqs.sent == []
    assert bucket.result_keys() == ["results/good.jpg.json"]


# ---------------------------------------------------------------------------- time


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_records_the_invocation_has_no_time_for_come_back_at_once(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, capsys, sqs
):
    # Given an invocation with 14 s left, less than the 15 s a model call and its result write may need
    lambda_context.remaining_ms = 14_000
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")), ("m-b", make_notification("images/b.jpg"))
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then the model is not called; both messages are made visible again at once and reported as batch item
    # failures, without failing the invocation and without a retry delay
    assert sorted(response["batchItemFailures"], key=lambda failure: failure["itemIdentifier"]) == [
        {"itemIdentifier": "m-a"},
        {"itemIdentifier": "m-b"},
    ]
    assert rekognition.requests == []
    assert sqs.made_visible() == ["AQEB-m-a", "AQEB-m-b"]
    assert sqs.sent == []
    assert bucket.result_keys() == []
    emf = emitted_metrics(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ImagesDeferred", "Unit": "Count"}]
    assert emf["ImagesDeferred"] == [2.0]


@pytest.mark.parametrize(
    ("remaining_ms", "analyzed"), [(15_000, True), (14_999, False)], ids=["15-s-left", "a-ms-less"]
)
def test_a_model_call_starts_only_with_15_seconds_left(
    remaining_ms,
    analyzed,
    fake_clock,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    sqs,
):
    # Given an invocation with 15 s left, or a millisecond less (the clock does not move by itself)
    lambda_context.remaining_ms = remaining_ms
    if analyzed:
        rekognition.expect_labels("images/a.jpg")

    # When the function handles an image
    response = app.handler(make_sqs_event(("m-a", make_notification("images/a.jpg"))), lambda_context)

    # Then the image is analyzed at exactly 15 s left; with less, it comes back at once
    assert response == {"batchItemFailures": [] if analyzed else [{"itemIdentifier": "m-a"}]}
    assert bucket.result_keys() == (["results/a.jpg.json"] if analyzed else [])
    assert sqs.made_visible() == ([] if analyzed else ["AQEB-m-a"])


def test_an_image_throttled_until_the_deadline_comes_back_at_once(
    monkeypatch,
    fake_clock,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    log_records,
    capsys,
    sqs,
):
    # Given an environment's pace of one call every 1.02 s, 20 s left (so no call may start after 5 s) and a
    # model that throttles every call
    lambda_context.remaining_ms = 20_000
    for _ in range(5):
        rekognition.expect_error("images/busy.jpg", "ThrottlingException", message="Rate exceeded")

    # When the function handles the image
    response = app.handler(make_sqs_event(("m-busy", make_notification("images/busy.jpg"))), lambda_context)

    # Then it asks at the pace up to the deadline and not after it; the message comes back at once as a batch
    # item failure, with no error logged
    assert rekognition.call_times == pytest.approx([0.0, 1.02, 2.04, 3.06, 4.08])
    assert fake_clock.sleeps == pytest.approx([1.02] * 4)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert sqs.made_visible() == ["AQEB-m-busy"]
    assert sqs.sent == []
    assert bucket.result_keys() == []
    assert errors_logged(log_records) == []
    assert failure_lines(log_records) == []
    emf = emitted_metrics(capsys.readouterr().out)
    assert (emf["ModelThrottles"], emf["ImagesDeferred"]) == ([5.0], [1.0])


def test_a_message_sqs_will_not_make_visible_still_fails_its_record(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, sqs
):
    # Given an invocation out of time, and an image queue that refuses the visibility change (the receipt
    # handle expired meanwhile, say)
    lambda_context.remaining_ms = 10_000
    sqs.refuse("ChangeMessageVisibility", "ReceiptHandleIsInvalid", "The receipt handle has expired.")

    # When the function handles an image
    response = app.handler(make_sqs_event(("m-late", make_notification("images/a.jpg"))), lambda_context)

    # Then the record still fails (it comes back after the queue's visibility timeout), and the log says so
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-late"}]}
    warnings = [
        (line["level"], line["messageId"], line["reason"])
        for line in log_records()
        if line["message"] == "message not made visible"
    ]
    assert warnings == [
        (
            "WARNING",
            "m-late",
            "An error occurred (ReceiptHandleIsInvalid) when calling the ChangeMessageVisibility operation: "
            "The receipt handle has expired.",
        )
    ]


def test_model_calls_start_a_pace_apart_even_after_a_pause(
    fake_clock, rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given one message announcing three images, in an environment whose last call was long ago
    keys = [f"images/{name}.jpg" for name in "abc"]
    for key in keys:
        rekognition.expect_labels(key)
    body = json.dumps({"Records": [json.loads(make_notification(key))["Records"][0] for key in keys]})

    # When the function handles it
    response = app.handler(make_sqs_event(("m-three", body)), lambda_context)

    # Then the calls start 1.02 s apart, the first at once: no burst makes up for the pause
    assert response == {"batchItemFailures": []}
    assert rekognition.call_times == pytest.approx([0.0, 1.02, 2.04])
    assert fake_clock.sleeps == pytest.approx([1.02, 1.02])


def test_the_pace_carries_over_to_the_next_invocation(
    fake_clock, rekognition, bucket, make_notification, make_sqs_event, lambda_context
):
    # Given three invocations of one image each, back to back
    for name in "abc":
        rekognition.expect_labels(f"images/{name}.jpg")

    # When the function handles them
    for name in "abc":
        app.handler(make_sqs_event((f"m-{name}", make_notification(f"images/{name}.jpg"))), lambda_context)

    # Then the environment keeps one pace across them: a new invocation does not start a call sooner
    assert rekognition.call_times == pytest.approx([0.0, 1.02, 2.04])
    assert bucket.result_keys() == ["results/a.jpg.json", "results/b.jpg.json", "results/c.jpg.json"]


# ---------------------------------------------------------------------------- metrics and configuration


def test_metrics_count_what_the_batch_met_once_per_invocation(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, capsys, labels
):
    # Given a batch with a good image throttled once (two labels, 125 ms), an image in the wrong format,
    # a good image (one label, 62.5 ms), an image the model cannot take yet, and a body that is not JSON
    rekognition.expect_error("images/a.jpg", "ThrottlingException", latency=0.5)
    rekognition.expect_labels("images/a.jpg", labels=labels, latency=0.125)
    rekognition.expect_error(
        "images/b.gif", "InvalidImageFormatException", message="Request has invalid image format"
    )
    rekognition.expect_labels("images/c.jpg", labels=labels[:1], latency=0.0625)
    rekognition.expect_error("images/d.jpg", "ResourceNotReadyException")
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")),
        ("m-b", make_notification("images/b.gif")),
        ("m-c", make_notification("images/c.jpg")),
        ("m-d", make_notification("images/d.jpg")),
        ("m-e", "images/e.jpg was uploaded"),
    )

    # When the function handles the batch
    app.handler(event, lambda_context)

    # Then one embedded-metric document carries one total per count and each answered call's latency
    # (the throttled try's time left out), in the LabelBatch namespace, by service
    emf = emitted_metrics(capsys.readouterr().out)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "LabelBatch"
    assert directive["Dimensions"] == [["service"]]
    assert emf["service"] == "labelbatch-unit"
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == {
        "ImageErrors": "Count",
        "ImagesAnalyzed": "Count",
        "LabelsFound": "Count",
        "MessagesDeadLettered": "Count",
        "ModelLatency": "Milliseconds",
        "ModelThrottles": "Count",
        "RetriesScheduled": "Count",
    }
    counts = ["ImageErrors", "ImagesAnalyzed", "LabelsFound", "MessagesDeadLettered", "ModelThrottles"]
    assert {name: emf[name] for name in [*counts, "RetriesScheduled"]} == {
        "ImageErrors": [1.0],
        "ImagesAnalyzed": [2.0],
        "LabelsFound": [3.0],
        "MessagesDeadLettered": [1.0],
        "ModelThrottles": [1.0],
        "RetriesScheduled": [1.0],
    }
    assert sorted(emf["ModelLatency"]) == [62.5, 125.0]


def test_a_message_dead_lettered_on_its_last_attempt_counts_as_dead_lettered(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, capsys
):
    # Given a message on its fifth attempt whose image fails again
    rekognition.expect_error("images/busy.jpg", "ResourceNotReadyException")
    attributes = {"labelbatch-attempt": ("Number", "5"), "labelbatch-first-message-id": ("String", "m-1st")}
    event = make_sqs_event(("m-fifth", make_notification("images/busy.jpg")), attributes=attributes)

    # When the function handles it
    app.handler(event, lambda_context)

    # Then the metrics count a dead letter, not a retry
    emf = emitted_metrics(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "MessagesDeadLettered", "Unit": "Count"}
    ]
    assert emf["MessagesDeadLettered"] == [1.0]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_configuration_fault_fails_the_invocation_before_any_record(
    monkeypatch, rekognition, bucket, make_notification, make_sqs_event, lambda_context, sqs
):
    # Given a deployment with an unusable MIN_CONFIDENCE
    monkeypatch.setenv("MIN_CONFIDENCE", "high")
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")), ("m-b", make_notification("images/b.jpg"))
    )

    # When the function handles a batch
    # Then the invocation fails, naming the fault, before any image is analyzed, retried or dead-lettered:
    # the whole batch waits out the queue's visibility timeout (a deployment fault is not fixed in seconds)
    with pytest.raises(
        SettingsError, match=re.escape("MIN_CONFIDENCE must be a number from 0 to 100, got 'high'")
    ):
        app.handler(event, lambda_context)
    assert rekognition.requests == []
    assert bucket.result_keys() == []
    assert (sqs.sent, sqs.visibility_changes) == ([], [])
