"""One image's DetectCustomLabels call on its own: what is asked again, how often, and what fails the image.

A fake clock paces the calls (4 per second) and decides the deadline, so every count and time is exact."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from analyze_image.analysis import (
    AnalysisFailedError,
    ImageProblem,
    Labels,
    ModelAccess,
    OutOfTimeError,
    detect_custom_labels,
)
from analyze_image.notification import ObjectEvent
from analyze_image.pacing import CallPacer, Deadline

BUCKET = "labelbatch-images-example"
KEY = "images/a.jpg"
URL = f"s3://{BUCKET}/{KEY}"
PROJECT_VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/defects/version/"
    "defects.2025-11-01T10.00.00/1761991200000"
)
ENDPOINT = "https://rekognition.us-east-1.amazonaws.com/"


class CountingTally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.latencies_ms: list[float] = []

    def add(self, name: str, count: int = 1) -> None:
        self.counts[name] += count

    def model_latency(self, milliseconds: float) -> None:
        self.latencies_ms.append(milliseconds)


def detect(
    rekognition, clock, *, deadline: float = 145.0, s3: Any = None, tally: CountingTally | None = None
):
    """Analyze images/a.jpg at 4 calls per second, from 100.0 s on the fake clock."""
    rekognition.clock = clock.now
    return detect_custom_labels(
        ObjectEvent("ObjectCreated:Put", BUCKET, KEY, version_id=None, e_tag=None, size=None),
        project_version_arn=PROJECT_VERSION_ARN,
        min_confidence=None,
        model=ModelAccess(
            client=rekognition,
            pacer=CallPacer(0.25, clock=clock.now, sleep=clock.sleep),
            deadline=Deadline(at=deadline),
            tally=tally if tally is not None else CountingTally(),
        ),
        s3=s3,
    )


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException"]
)
def test_throttling_is_asked_again_at_the_pace_until_the_model_answers(code, rekognition, clock, labels):
    # Given a model that throttles three calls (each taking 0.5 s) before answering in 125 ms
    for _ in range(3):
        rekognition.expect_error(KEY, code, latency=0.5)
    rekognition.expect_labels(KEY, latency=0.125)
    tally = CountingTally()

    # When the image is analyzed
    outcome = detect(rekognition, clock, tally=tally)

    # Then the calls go at the pace, the labels come back with the answered call's own latency, which is
    # tallied, and each throttle is counted
    assert outcome == Labels(custom_labels=labels, latency_ms=125.0)
    assert rekognition.call_times == [100.0, 100.25, 100.5, 100.75]
    assert tally.counts == {"ModelThrottles": 3}
    assert tally.latencies_ms == [125.0]


def test_an_image_throttled_until_the_deadline_runs_out_of_time(rekognition, clock):
    # Given a deadline 0.5 s away and a model that throttles every call
    for _ in range(3):
        rekognition.expect_error(KEY, "ThrottlingException")
    tally = CountingTally()

    # When the image is analyzed / Then it runs out of time after the last slot before the deadline
    with pytest.raises(OutOfTimeError, match=f"^no time left to analyze {URL} in this invocation$"):
        detect(rekognition, clock, deadline=100.5, tally=tally)
    assert rekognition.call_times == [100.0, 100.25, 100.5]
    assert tally.counts == {"ModelThrottles": 3}
    assert tally.latencies_ms == []


def test_no_call_is_made_once_the_deadline_has_passed(rekognition, clock):
    # Given a deadline that passed a second ago / When the image is analyzed / Then the model is not asked
    with pytest.raises(OutOfTimeError):
        detect(rekognition, clock, deadline=99.0)
    assert rekognition.requests == []


@pytest.mark.parametrize(("code", "status"), [("InternalServerError", 500), ("ServiceUnavailable", 503)])
def test_a_service_fault_gets_three_tries_in_all(code, status, rekognition, clock):
    # Given a service that fails every call with a 5xx
    for _ in range(3):
        rekognition.expect_error(KEY, code, status=status)

    # When the image is analyzed / Then it fails after the third try, chaining the service's answer
    with pytest.raises(
        AnalysisFailedError, match=f"^DetectCustomLabels failed with {code} for {URL}$"
    ) as raised:
        detect(rekognition, clock)
    assert rekognition.call_times == [100.0, 100.25, 100.5]
    assert isinstance(raised.value.__cause__, ClientError)


def test_timeouts_and_5xx_share_the_three_tries(rekognition, clock):
    # Given a read timeout, a 500 and a connect timeout in a row
    last = ConnectTimeoutError(endpoint_url=ENDPOINT)
    rekognition.expect_failure(KEY, ReadTimeoutError(endpoint_url=ENDPOINT))
    rekognition.expect_error(KEY, "InternalServerError", status=500)
    rekognition.expect_failure(KEY, last)

    # When the image is analyzed / Then the third fault fails it, naming the last one
    with pytest.raises(
        AnalysisFailedError, match=f"^DetectCustomLabels did not answer for {URL}: "
    ) as raised:
        detect(rekognition, clock)
    assert str(raised.value) == f"DetectCustomLabels did not answer for {URL}: {last}"
    assert raised.value.__cause__ is last


def test_throttling_does_not_use_up_the_tries_a_fault_gets(rekognition, clock, labels):
    # Given two 5xx faults and three throttles in between, then an answer
    rekognition.expect_error(KEY, "InternalServerError", status=500)
    rekognition.expect_error(KEY, "ThrottlingException")
    rekognition.expect_error(KEY, "ServiceUnavailable", status=503)
    rekognition.expect_error(KEY, "ThrottlingException")
    rekognition.expect_error(KEY, "ProvisionedThroughputExceededException")
    rekognition.expect_labels(KEY)
    tally = CountingTally()

    # When the image is analyzed / Then the labels come back
    assert detect(rekognition, clock, tally=tally) == Labels(custom_labels=labels, latency_ms=0.0)
    assert tally.counts == {"ModelThrottles": 3}


@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "ResourceNotFoundException",
        "ResourceNotReadyException",
        "ValidationException",
    ],
)
def test_any_other_error_outside_the_image_fails_it_after_one_call(code, rekognition, clock):
    rekognition.expect_error(KEY, code, message="no")

    with pytest.raises(AnalysisFailedError, match=f"^DetectCustomLabels failed with {code} for {URL}$"):
        detect(rekognition, clock)
    assert len(rekognition.requests) == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidImageFormatException", "Request has invalid image format"),
        ("ImageTooLargeException", "Image size is too large."),
        ("InvalidParameterException", "Request has Invalid Parameters"),
    ],
)
def test_an_image_problem_is_answered_after_one_call(code, message, rekognition, clock):
    rekognition.expect_error(KEY, code, message=message)

    assert detect(rekognition, clock) == ImageProblem(code=code, message=message)
    assert len(rekognition.requests) == 1


def test_an_s3_that_will_not_say_whether_the_image_exists_fails_the_image(rekognition, clock):
    # Given an image Rekognition cannot read, and S3 answering 403 when asked whether it exists
    refused = ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    class ForbiddingS3:
        def __init__(self) -> None:
            self.requests: list[dict[str, Any]] = []

        def head_object(self, **request: Any) -> None:
            self.requests.append(request)
            raise refused

    s3 = ForbiddingS3()
    rekognition.expect_error(
        KEY, "InvalidS3ObjectException", message="Unable to get object metadata from S3."
    )

    # When the image is analyzed / Then S3's answer fails the image (a retry, not an error result)
    with pytest.raises(ClientError) as raised:
        detect(rekognition, clock, s3=s3)
    assert raised.value is refused
    assert s3.requests == [{"Bucket": BUCKET, "Key": KEY}]
