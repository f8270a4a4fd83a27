"""Model lifecycle through a real boto3 client: describe, start, stop, injected start failure, not-found."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from labelbatch.emulator import CustomLabelsEmulator, demo_model_arns

PROJECT_ARN, VERSION_ARN = demo_model_arns()
UNKNOWN_VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/other/version/other.2024/1700000000002"
)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = excinfo.value.response["Error"]["Code"]
    return code


def version_description(rekognition: Any) -> dict[str, Any]:
    response = rekognition.describe_project_versions(
        ProjectArn=PROJECT_ARN, VersionNames=["labelbatch-demo.2024-01-01T00.00.00"]
    )
    (description,) = response["ProjectVersionDescriptions"]
    return dict(description)


def test_demo_arns_follow_the_custom_labels_format() -> None:
    # Given the demo ARNs in the default region and account
    # Then the version name is the 4th '/'-field and both end in epoch milliseconds
    assert PROJECT_ARN == "arn:aws:rekognition:us-east-1:123456789012:project/labelbatch-demo/1700000000000"
    assert VERSION_ARN.split("/")[3] == "labelbatch-demo.2024-01-01T00.00.00"
    assert demo_model_arns("eu-west-1", "111122223333")[1].startswith(
        "arn:aws:rekognition:eu-west-1:111122223333:project/labelbatch-demo/version/"
    )


def test_describe_projects_returns_the_demo_project(rekognition: Any) -> None:
    # When the projects are described, unfiltered and filtered by name
    everything = rekognition.describe_projects()["ProjectDescriptions"]
    by_name = rekognition.describe_projects(ProjectNames=["labelbatch-demo"])["ProjectDescriptions"]
    other = rekognition.describe_projects(ProjectNames=["someone-else"])["ProjectDescriptions"]

    # Then the demo project is there, created, with its ARN's creation time
    assert [project["ProjectArn"] for project in everything] == [PROJECT_ARN]
    assert everything[0]["Status"] == "CREATED"
    assert everything[0]["CreationTimestamp"].timestamp() == 1700000000.0
    assert by_name == everything
    assert other == []


def test_a_stopped_model_describes_without_inference_units(rekognition: Any) -> None:
    # When the never-started model is described
    description = version_description(rekognition)

    # Then it is STOPPED and has no inference units yet
    assert description["ProjectVersionArn"] == VERSION_ARN
    assert description["Status"] == "STOPPED"
    assert description["StatusMessage"] == "The model is stopped."
    assert description["CreationTimestamp"].timestamp() == 1700000000.001
    assert "MinInferenceUnits" not in description
    assert "MaxInferenceUnits" not in description


def test_start_goes_through_starting_to_running_after_start_seconds(stack: Any, rekognition: Any) -> None:
    # When the model is started with auto-scaling bounds
    response = rekognition.start_project_version(
        ProjectVersionArn=VERSION_ARN, MinInferenceUnits=2, MaxInferenceUnits=3
    )

    # Then it reports STARTING until start_seconds have passed, then RUNNING, with the units recorded
    assert response["Status"] == "STARTING"
    stack.clock.advance(59.9)
    assert version_description(rekognition)["Status"] == "STARTING"
    stack.clock.advance(0.1)
    description = version_description(rekognition)
    assert description["Status"] == "RUNNING"
    assert description["StatusMessage"] == "The model is running."
    assert (description["MinInferenceUnits"], description["MaxInferenceUnits"]) == (2, 3)


def test_the_running_waiter_accepts_a_running_model(stack: Any, rekognition: Any) -> None:
    # Given a running model
    stack.start_and_wait()

    # When botocore's ProjectVersionRunning waiter checks it, Then it succeeds on its first poll
    rekognition.get_waiter("project_version_running").wait(
        ProjectArn=PROJECT_ARN,
        VersionNames=["labelbatch-demo.2024-01-01T00.00.00"],
        WaiterConfig={"Delay": 1, "MaxAttempts": 1},
    )


@pytest.mark.parametrize("seconds_after_start", [0.0, 60.0])
def test_start_while_starting_or_running_is_resource_in_use(
    stack: Any, rekognition: Any, seconds_after_start: float
) -> None:
    # Given a model that is STARTING (0 s) or RUNNING (60 s)
    rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    stack.clock.advance(seconds_after_start)

    # When it is started again
    with pytest.raises(ClientError) as excinfo:
        rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)

    # Then AWS's ResourceInUseException comes back
    assert error_code(excinfo) == "ResourceInUseException"


def test_stop_goes_through_stopping_to_stopped_after_stop_seconds(stack: Any, rekognition: Any) -> None:
    # Given a running model
    stack.start_and_wait()

    # When it is stopped
    response = rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    # Then it is STOPPING for stop_seconds, then STOPPED
    assert response["Status"] == "STOPPING"
    stack.clock.advance(29.0)
    assert stack.model_status() == "STOPPING"
    stack.clock.advance(1.0)
    assert stack.model_status() == "STOPPED"


def test_stop_while_starting_is_accepted(stack: Any, rekognition: Any) -> None:
    # Given a model that is STARTING (AWS's own batch sample stops STARTING models too)
    rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)

    # When it is stopped before it runs
    response = rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    # Then it stops and never becomes RUNNING
    assert response["Status"] == "STOPPING"
    stack.clock.advance(120.0)
    assert stack.model_status() == "STOPPED"
    assert stack.emulator.model_report()["usage"]["runningSeconds"] == 0.0


@pytest.mark.parametrize("seconds_after_stop", [0.0, 30.0])
def test_stop_while_stopping_or_stopped_is_resource_in_use(
    stack: Any, rekognition: Any, seconds_after_stop: float
) -> None:
    # Given a model that is STOPPING (0 s) or STOPPED (30 s)
    stack.start_and_wait()
    rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)
    stack.clock.advance(seconds_after_stop)

    # When it is stopped again
    with pytest.raises(ClientError) as excinfo:
        rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    # Then AWS's ResourceInUseException comes back
    assert error_code(excinfo) == "ResourceInUseException"


def test_a_stop_by_someone_else_can_land_just_before_the_next_one(stack: Any, rekognition: Any) -> None:
    # Given a running model, and someone else's stop set to land just before the next stop
    stack.start_and_wait()
    stack.emulator.update_settings({"stopped_before_next_stop": True})

    # When the model is stopped
    with pytest.raises(ClientError) as excinfo:
        rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    # Then that stop meets a STOPPING model, the other one counts, and the setting was used up
    assert error_code(excinfo) == "ResourceInUseException"
    assert stack.model_status() == "STOPPING"
    assert stack.emulator.model_report()["usage"]["stopCalls"] == 1
    assert stack.emulator.settings.stopped_before_next_stop is False


def test_a_model_that_refuses_stops_stays_running_until_it_accepts_them(stack: Any, rekognition: Any) -> None:
    # Given a running model that refuses stops
    stack.start_and_wait()
    stack.emulator.update_settings({"refuse_stops": True})

    # When it is stopped, Then ResourceInUseException, and it runs on
    with pytest.raises(ClientError) as excinfo:
        rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)
    assert error_code(excinfo) == "ResourceInUseException"
    assert stack.model_status() == "RUNNING"

    # And once it accepts stops again, a stop stops it
    stack.emulator.update_settings({"refuse_stops": False})
    assert rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)["Status"] == "STOPPING"


def test_start_while_stopping_is_resource_in_use(stack: Any, rekognition: Any) -> None:
    # Given a model that is STOPPING
    stack.start_and_wait()
    rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    # When it is started, Then ResourceInUseException; once STOPPED it starts
    with pytest.raises(ClientError) as excinfo:
        rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    assert error_code(excinfo) == "ResourceInUseException"
    stack.clock.advance(30.0)
    assert (
        rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)["Status"]
        == "STARTING"
    )


def test_injected_start_failure_ends_in_failed_and_a_retry_runs(stack: Any, rekognition: Any) -> None:
    # Given a start failure injected through the emulator's settings
    stack.emulator.update_settings({"fail_next_start": True})

    # When the model is started and start_seconds pass
    assert (
        rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)["Status"]
        == "STARTING"
    )
    stack.clock.advance(60.0)

    # Then it is FAILED with a message saying why, and the injection is used up
    failed = version_description(rekognition)
    assert failed["Status"] == "FAILED"
    assert "fail_next_start" in failed["StatusMessage"]
    assert stack.emulator.settings.fail_next_start is False

    # When it is started again from FAILED, Then it runs
    rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    stack.clock.advance(60.0)
    assert stack.model_status() == "RUNNING"


@pytest.mark.parametrize("initial_status", ["TRAINING_COMPLETED"])
def test_a_freshly_trained_model_starts(stack: Any, rekognition: Any) -> None:
    # Given a model whose training has just completed
    assert stack.model_status() == "TRAINING_COMPLETED"

    # When it is started, Then it runs after start_seconds
    stack.start_and_wait()
    assert stack.model_status() == "RUNNING"


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        ("describe_project_versions", {"ProjectArn": PROJECT_ARN.replace("labelbatch-demo", "missing")}),
        ("start_project_version", {"ProjectVersionArn": UNKNOWN_VERSION_ARN, "MinInferenceUnits": 1}),
        ("stop_project_version", {"ProjectVersionArn": UNKNOWN_VERSION_ARN}),
        (
            "detect_custom_labels",
            {
                "ProjectVersionArn": UNKNOWN_VERSION_ARN,
                "Image": {"S3Object": {"Bucket": "bucket", "Name": "k.png"}},
            },
        ),
    ],
)
def test_unknown_project_or_model_is_resource_not_found(
    rekognition: Any, operation: str, arguments: dict[str, Any]
) -> None:
    # When an operation names a project or model that does not exist
    with pytest.raises(ClientError) as excinfo:
        getattr(rekognition, operation)(**arguments)

    # Then ResourceNotFoundException comes back as an HTTP 400 with AWS's error headers
    assert error_code(excinfo) == "ResourceNotFoundException"
    metadata = excinfo.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 400
    assert metadata["HTTPHeaders"]["x-amzn-errortype"] == "ResourceNotFoundException"
    assert len(metadata["RequestId"]) == 36


def test_start_with_max_below_min_units_is_invalid(rekognition: Any) -> None:
    # When MaxInferenceUnits is below MinInferenceUnits
    with pytest.raises(ClientError) as excinfo:
        rekognition.start_project_version(
            ProjectVersionArn=VERSION_ARN, MinInferenceUnits=3, MaxInferenceUnits=2
        )

    # Then InvalidParameterException
    assert error_code(excinfo) == "InvalidParameterException"


def test_version_names_that_do_not_match_describe_nothing(rekognition: Any) -> None:
    # When versions are described by a name the project does not have
    response = rekognition.describe_project_versions(ProjectArn=PROJECT_ARN, VersionNames=["not-this-one"])

    # Then the list is empty
    assert response["ProjectVersionDescriptions"] == []


def test_other_requests_pass_through_to_moto(stack: Any, s3: Any) -> None:
    # When S3 and a Rekognition operation the emulator does not serve are called on the same endpoint
    s3.create_bucket(Bucket="pass-through")
    labels = stack.client("rekognition").detect_labels(
        Image={"S3Object": {"Bucket": "pass-through", "Name": "a.png"}}
    )

    # Then moto answers them (its DetectLabels answer is canned)
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["pass-through"]
    assert len(labels["Labels"]) > 0


def test_a_model_can_begin_running() -> None:
    # Given an emulator built around a model that is already RUNNING (an operator started it)
    emulator = CustomLabelsEmulator(
        fetch_object=lambda bucket, key, version: None,
        initial_status="RUNNING",
        initial_inference_units=2,
        clock=lambda: 5.0,
    )

    # Then it reports RUNNING with its inference units
    report = emulator.model_report()
    assert (report["status"], report["minInferenceUnits"]) == ("RUNNING", 2)


def test_a_version_of_another_project_is_refused() -> None:
    # When the emulator is given a version ARN that does not belong to its project, Then it refuses
    with pytest.raises(ValueError, match="is not a version of project"):
        CustomLabelsEmulator(
            fetch_object=lambda bucket, key, version: None, project_version_arn=UNKNOWN_VERSION_ARN
        )
