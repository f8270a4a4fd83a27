"""AnalyzeImageFunction through its handler: SQS batches in, result documents and batchItemFailures out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from analyze_image import app

pytestmark = pytest.mark.unit

BUCKET = "labelbatch-images-example"

# The upload in events/sqs_object_created_encoded_key.json, decoded.
ENCODED_EVENT_KEY = "images/plant 7/line+2/2025/11/21/100% crème brûlée/IMG 0001.JPG"
ENCODED_EVENT_RESULT = "results/plant 7/line+2/2025/11/21/100% crème brûlée/IMG 0001.JPG.json"
ENCODED_EVENT_VERSION = "Wvd2rKJcS.L8nZ_3pQ1YV0gHk7hXz9mA"

MISSING_OBJECT_MESSAGE = "The object no longer exists in S3: it was deleted before it could be analyzed."


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


class ScriptedRekognition:
    """Stands in for the client where botocore's Stubber cannot: errors raised below the HTTP layer."""

    def __init__(self, answers: dict[str, Exception | list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def detect_custom_labels(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        answer = self.answers[request["Image"]["S3Object"]["Name"]]
        if isinstance(answer, Exception):
            raise answer
        return {"CustomLabels": answer}


def batch_with_one_refused_image(
    rekognition, make_notification, make_sqs_event, *, name, code, receive_count=1, **error
) -> dict[str, Any]:
    """Messages m-<name> and m-good: DetectCustomLabels answers `code` for images/<name>.jpg and labels for
    images/good.jpg."""
    rekognition.expect_error(f"images/{name}.jpg", code, **error)
    rekognition.expect_labels("images/good.jpg")
    return make_sqs_event(
        (f"m-{name}", make_notification(f"images/{name}.jpg")),
        ("m-good", make_notification("images/good.jpg")),
        receive_count=receive_count,
    )


@pytest.fixture(autouse=True)
def queue(image_queue):
    """Every test here runs the function against the recording image queue."""
    return image_queue


def test_a_good_image_gets_the_complete_result_document(
    rekognition, bucket, load_event, lambda_context, labels, function_environment
):
    # Given an upload to a versioned bucket whose key S3 had to URL-encode
    event = load_event("sqs_object_created_encoded_key.json")
    rekognition.expect_labels(ENCODED_EVENT_KEY, version=ENCODED_EVENT_VERSION)
    before = datetime.now(UTC)

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then no record fails and one JSON result sits under the results prefix, at the decoded relative key
    after = datetime.now(UTC)
    assert response == {"batchItemFailures": []}
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
    configured,
    sent,
    monkeypatch,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    labels,
):
    # Given a MinConfidence setting (the stub checks the exact request: MinConfidence absent when unset)
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
    version, rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
):
    # Given an event with or without a versionId (the stub checks that Version is sent exactly then)
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
    labels,
    function_environment,
):
    # Given an image Rekognition refuses for good
    rekognition.expect_error("images/notes.txt", code, message=message)
    before = datetime.now(UTC)

    # When the function handles it
    response = app.handler(
        make_sqs_event(("m-1", make_notification("images/notes.txt", size=12, e_tag="abc123"))),
        lambda_context,
    )

    # Then the message is done with, and the team finds why in an error result instead of labels
    after = datetime.now(UTC)
    assert response == {"batchItemFailures": []}
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
    rekognition, bucket, make_notification, make_sqs_event, lambda_context
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
    document, _ = bucket.read_result("results/gone.jpg.json")
    assert document["status"] == "error"
    assert document["customLabels"] is None
    assert document["error"] == {"code": "InvalidS3ObjectException", "message": MISSING_OBJECT_MESSAGE}


def test_an_existing_image_rekognition_may_not_read_fails_its_record(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
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

    # Then that record returns to the queue without an error result: fixing the configuration will analyze it
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-locked"}]}
    assert bucket.result_keys() == ["results/good.jpg.json"]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        # Transient: the message comes back and succeeds once the model has capacity or is running.
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("ResourceNotReadyException", 400),
        ("LimitExceededException", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        # Configuration faults: retried, then kept in the dead-letter queue until someone fixes them.
        ("AccessDeniedException", 400),
        ("ResourceNotFoundException", 400),
    ],
)
def test_an_error_outside_the_image_fails_only_its_record(
    code,
    status,
    rekognition,
    bucket,
    make_notification,
    make_sqs_event,
    lambda_context,
    log_records,
    labels,
    queue,
):
    # Given a batch where DetectCustomLabels fails for one image and works for the next
    event = batch_with_one_refused_image(
        rekognition, make_notification, make_sqs_event, name="unlucky", code=code, status=status
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then only that message returns to the queue, after RETRY_DELAY_SECONDS rather than the queue's 360 s,
    # leaving no result, and the log names image and error
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-unlucky"}]}
    assert queue.delays == {"AQEB-m-unlucky": 10}
    assert bucket.result_keys() == ["results/good.jpg.json"]
    failures = [
        (line["messageId"], line["reason"]) for line in log_records() if line["message"] == "message failed"
    ]
    assert failures == [
        ("m-unlucky", f"DetectCustomLabels failed with {code} for s3://{BUCKET}/images/unlucky.jpg")
    ]


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
        ConnectTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
        EndpointConnectionError(endpoint_url="https://rekognition.us-east-1.amazonaws.com/"),
    ],
    ids=["read-timeout", "connect-timeout", "connection-error"],
)
def test_a_timeout_fails_only_its_record(
    error, monkeypatch, bucket, make_notification, make_sqs_event, lambda_context, log_records, labels
):
    # Given a model endpoint that does not answer for one image (after the client's own retries)
    scripted = ScriptedRekognition({"images/slow.jpg": error, "images/good.jpg": labels})
    monkeypatch.setattr(app, "rekognition_client", lambda: scripted)
    event = make_sqs_event(
        ("m-slow", make_notification("images/slow.jpg")), ("m-good", make_notification("images/good.jpg"))
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then only that message returns to the queue, and the log names the image
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-slow"}]}
    failures = [
        (line["messageId"], line["reason"]) for line in log_records() if line["message"] == "message failed"
    ]
    assert failures == [
        ("m-slow", f"DetectCustomLabels did not answer for s3://{BUCKET}/images/slow.jpg: {error}")
    ]
    assert bucket.result_keys() == ["results/good.jpg.json"]
    assert [request["Image"]["S3Object"]["Name"] for request in scripted.requests] == [
        "images/slow.jpg",
        "images/good.jpg",
    ]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_batch_whose_every_record_fails_fails_the_invocation(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, queue
):
    # Given a batch in which every image is throttled
    rekognition.expect_error("images/a.jpg", "ProvisionedThroughputExceededException")
    rekognition.expect_error("images/b.jpg", "ProvisionedThroughputExceededException")
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")), ("m-b", make_notification("images/b.jpg"))
    )

    # When the function handles the batch
    # Then the invocation fails: every message returns to the queue and the function's Errors metric counts it
    with pytest.raises(BatchProcessingError) as raised:
        app.handler(event, lambda_context)
    assert len(raised.value.child_exceptions) == 2
    assert bucket.result_keys() == []
    # ...each after the retry delay, not after the queue's visibility timeout
    assert queue.delays == {"AQEB-m-a": 10, "AQEB-m-b": 10}


@pytest.mark.parametrize(
    ("receive_count", "delay"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (1000, 300)],
)
def test_a_failed_message_comes_back_later_on_each_receive(
    receive_count, delay, rekognition, bucket, make_notification, make_sqs_event, lambda_context, queue
):
    # Given a message received for the nth time whose image is throttled again, next to a good one
    event = batch_with_one_refused_image(
        rekognition,
        make_notification,
        make_sqs_event,
        name="busy",
        code="ThrottlingException",
        receive_count=receive_count,
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then the message is hidden for RETRY_DELAY_SECONDS (10) doubled per earlier receive, never past 300 s
    # (below the queue's 360 s visibility timeout)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert queue.delays == {"AQEB-m-busy": delay}


def test_a_retry_delay_sqs_refuses_still_fails_only_its_record(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, queue
):
    # Given an image queue that refuses the visibility change (the receipt handle expired meanwhile, say)
    queue.refusal = ClientError(
        {"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "The receipt handle has expired."}},
        "ChangeMessageVisibility",
    )
    event = batch_with_one_refused_image(
        rekognition, make_notification, make_sqs_event, name="busy", code="ThrottlingException"
    )

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then the record still fails alone (it comes back after the queue's own timeout), and the log says so
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert bucket.result_keys() == ["results/good.jpg.json"]
    warnings = [
        (line["messageId"], line["reason"])
        for line in log_records()
        if line["message"] == "retry delay not set"
    ]
    assert warnings == [
        (
            "m-busy",
            "An error occurred (ReceiptHandleIsInvalid) when calling the ChangeMessageVisibility operation: "
            "The receipt handle has expired.",
        )
    ]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_s3_test_event_is_acknowledged_and_ignored(
    rekognition, bucket, load_event, lambda_context, log_records
):
    # Given the message S3 sends when the notification is configured
    event = load_event("sqs_test_event.json")

    # When the function handles it (the stub expects no call)
    response = app.handler(event, lambda_context)

    # Then it is deleted from the queue without any result
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == []
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
    key, result_key, rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
):
    # Given a notification whose key S3 URL-encoded (the stub expects the real key)
    rekognition.expect_labels(key)

    # When the function handles it
    response = app.handler(make_sqs_event(("m-1", make_notification(key))), lambda_context)

    # Then the result key is the real key, relative to the input prefix, plus .json
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == [result_key]
    document, _ = bucket.read_result(result_key)
    assert document["image"]["key"] == key


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_image_whose_result_key_would_be_too_long_fails_without_calling_the_model(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, labels
):
    # Given a valid 1,019-byte image key, whose result key would be 1,025 bytes (results/ in place of images/,
    # plus .json), next to the longest image key whose result fits: 1,018 bytes give exactly 1,024
    too_long = "images/" + "k" * 1012
    longest = "images/" + "k" * 1011
    rekognition.expect_labels(longest)
    event = make_sqs_event(("m-long", make_notification(too_long)), ("m-fits", make_notification(longest)))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then that message fails, without an inference (the stub expects none for it), with the reason logged;
    # its retries end in the dead-letter queue. The other image gets its result.
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-long"}]}
    assert bucket.result_keys() == ["results/" + "k" * 1011 + ".json"]
    reasons = [line["reason"] for line in log_records() if line["message"] == "message failed"]
    assert reasons == [
        f"the result key for {too_long!r} would be 1025 bytes, over S3's 1024-byte limit: "
        "shorten the image key"
    ]


def test_every_record_of_one_message_is_analyzed(rekognition, bucket, load_event, lambda_context, labels):
    # Given one message whose notification carries three records from an unversioned bucket
    event = load_event("sqs_multiple_records.json")
    rekognition.expect_labels("images/line-1/a.jpg", labels=labels[:1])
    rekognition.expect_labels("images/line-1/b.png", labels=[])
    rekognition.expect_labels("images/line-2/shift b/c.jpeg", labels=labels)

    # When the function handles it
    response = app.handler(event, lambda_context)

    # Then each image has its own result, with the metadata of its own record
    assert response == {"batchItemFailures": []}
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
    for result_key, (image, labels) in expected.items():
        document, _ = bucket.read_result(result_key)
        assert (document["status"], document["image"], document["customLabels"]) == ("ok", image, labels)


def test_a_failing_record_returns_its_whole_message(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
):
    # Given a two-record message whose second image is throttled, next to a good message
    two_records = json.dumps(
        {
            "Records": [
                json.loads(make_notification("images/first.jpg"))["Records"][0],
                json.loads(make_notification("images/second.jpg"))["Records"][0],
            ]
        }
    )
    rekognition.expect_labels("images/first.jpg")
    rekognition.expect_error("images/second.jpg", "ThrottlingException")
    rekognition.expect_labels("images/other.jpg")
    event = make_sqs_event(("m-two", two_records), ("m-other", make_notification("images/other.jpg")))

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then the whole message returns to the queue; the first image's result is kept and its redelivery
    # rewrites it in place
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-two"}]}
    assert bucket.result_keys() == ["results/first.jpg.json", "results/other.jpg.json"]


def test_a_mixed_batch_reports_exactly_the_bad_messages(
    rekognition, bucket, load_event, lambda_context, log_records, labels, queue
):
    # Given a batch with a good image, a body that is not JSON, a record for another bucket, a test event,
    # an EventBridge-shaped event and an object outside the input prefix
    event = load_event("sqs_mixed_batch.json")
    ids = [record["messageId"] for record in event["Records"]]
    rekognition.expect_labels("images/mixed/good.jpg")

    # When the function handles the batch
    response = app.handler(event, lambda_context)

    # Then exactly the three messages it cannot act on fail (retried after the back-off, then dead-lettered),
    # each with its reason logged, and the good image has its result
    assert response == {"batchItemFailures": [{"itemIdentifier": ids[i]} for i in (1, 2, 4)]}
    assert queue.delays == {event["Records"][i]["receiptHandle"]: 10 for i in (1, 2, 4)}
    assert bucket.result_keys() == ["results/mixed/good.jpg.json"]
    failures = [
        (line["messageId"], line["reason"]) for line in log_records() if line["message"] == "message failed"
    ]
    assert failures == [
        (ids[1], "message body is not JSON"),
        (ids[2], f"record is for bucket 'someone-elses-bucket', this function reads only '{BUCKET}'"),
        (ids[4], "message body is not an S3 event notification (no Records)"),
    ]


def test_a_message_naming_another_bucket_is_rejected_whole(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, labels
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

    # Then that message fails before any of its images is analyzed (the stub expects no call for ours.jpg)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-mixed"}]}
    assert bucket.result_keys() == ["results/good.jpg.json"]


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
):
    # Given a notification for something that is not a new image under the input prefix
    monkeypatch.setenv("INPUT_PREFIX", input_prefix)
    event = make_sqs_event(("m-1", make_notification(key, event_name=event_name)))

    # When the function handles it (the stub expects no call)
    response = app.handler(event, lambda_context)

    # Then the message is acknowledged, nothing is written, and the log says why
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == []
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


def test_metrics_count_images_errors_labels_and_model_latency(
    rekognition, bucket, make_notification, make_sqs_event, lambda_context, capsys, labels
):
    # Given a batch with two good images (two labels, one label) and one image in the wrong format
    rekognition.expect_labels("images/a.jpg", labels=labels)
    rekognition.expect_error(
        "images/b.gif", "InvalidImageFormatException", message="Request has invalid image format"
    )
    rekognition.expect_labels("images/c.jpg", labels=labels[:1])
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")),
        ("m-b", make_notification("images/b.gif")),
        ("m-c", make_notification("images/c.jpg")),
    )

    # When the function handles the batch
    app.handler(event, lambda_context)

    # Then one embedded-metric document carries the four metrics, in the LabelBatch namespace, by service
    emf = emitted_metrics(capsys.readouterr().out)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "LabelBatch"
    assert directive["Dimensions"] == [["service"]]
    assert emf["service"] == "labelbatch-unit"
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == {
        "ModelLatency": "Milliseconds",
        "ImagesAnalyzed": "Count",
        "LabelsFound": "Count",
        "ImageErrors": "Count",
    }
    assert emf["ImagesAnalyzed"] == [1.0, 1.0]
    assert emf["LabelsFound"] == [2.0, 1.0]
    assert emf["ImageErrors"] == [1.0]
    assert len(emf["ModelLatency"]) == 2
    assert all(latency >= 0 for latency in emf["ModelLatency"])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_configuration_fault_returns_every_message(
    monkeypatch, rekognition, bucket, make_notification, make_sqs_event, lambda_context, log_records, queue
):
    # Given a deployment with an unusable MIN_CONFIDENCE
    monkeypatch.setenv("MIN_CONFIDENCE", "high")
    event = make_sqs_event(
        ("m-a", make_notification("images/a.jpg")), ("m-b", make_notification("images/b.jpg"))
    )

    # When the function handles a batch
    # Then the invocation fails without analyzing anything, and the log names the fault
    with pytest.raises(BatchProcessingError):
        app.handler(event, lambda_context)
    assert bucket.result_keys() == []
    reasons = {line["reason"] for line in log_records() if line["message"] == "message failed"}
    assert reasons == {"MIN_CONFIDENCE must be a number from 0 to 100, got 'high'"}
    # A deployment fault is not fixed within seconds: the messages wait out the queue's visibility timeout
    assert queue.delays == {}


def test_notifications_as_s3_really_sends_them_are_understood(
    rekognition, bucket, make_sqs_event, lambda_context, labels
):
    # Given a bucket notifying a queue (moto sends the s3:TestEvent and encodes keys the way S3 does)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="image-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
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
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"]).get("Event") for message in messages] == ["s3:TestEvent", None]
    rekognition.expect_labels(key)

    # When the function handles what the queue delivered
    response = app.handler(
        make_sqs_event(*[(message["MessageId"], message["Body"]) for message in messages]), lambda_context
    )

    # Then the test event is acknowledged and the image analyzed under its real name
    assert response == {"batchItemFailures": []}
    assert bucket.result_keys() == ["results/line 2/ünï+cødé 100%.jpg.json"]
