"""The main job end to end on the local stack: images in, one result each, nothing left running."""

from __future__ import annotations

from datetime import datetime

from labelbatch.images import SampleImage
from support.stack_helpers import StackUnderTest, assert_labels_match

STOPPED_OR_STOPPING = {"STOPPING", "STOPPED"}


def test_every_uploaded_image_gets_one_result_and_nothing_is_left_running(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given six PNG and JPEG images under the input prefix, the model stopped and the consumer off
    uploaded = stack.upload_samples(samples)

    # When one batch run goes from start to end
    run = stack.run_to_end()

    # Then it succeeded, having started the model for this backlog and stopped it again
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert {k: v for k, v in run.output.items() if k not in {"modelRunningSince", "finishedAt"}} == {
        "outcome": "processed",
        "backlogAtStart": 6,
        "modelStartedByRun": True,
        "modelStoppedByRun": True,
        # one invocation per call a second the model's unit serves (the emulator's 10)
        "inferenceUnits": 1,
        "consumerConcurrency": 10,
    }
    assert datetime.fromisoformat(run.output["modelRunningSince"]) <= datetime.fromisoformat(
        run.output["finishedAt"]
    )
    # And each image has exactly one result, at the key derived from its own, listing the boxes drawn on it
    documents = stack.result_documents()
    assert set(documents) == {stack.expected_result_key(key) for key in uploaded}
    for key, sample in uploaded.items():
        document = documents[stack.expected_result_key(key)]
        assert document["status"] == "ok"
        assert document["error"] is None
        assert document["image"]["bucket"] == stack.bucket
        assert document["image"]["key"] == key
        assert document["image"]["size"] == sample.path.stat().st_size
        assert_labels_match(document, sample)
    # And the consumer is off, the model stopped once, the marker cleared and both queues empty
    assert stack.consumer_state() == "Disabled"
    assert stack.model_status() in STOPPED_OR_STOPPING
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)
    assert stack.marker() == "none"
    assert stack.queue_backlog() == 0
    assert stack.dead_letters() == 0


def test_a_run_with_an_empty_queue_never_starts_the_model(stack: StackUnderTest) -> None:
    # Given no image waiting
    assert stack.queue_backlog() == 0

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then it had nothing to do and never went near the model or the consumer
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "nothing-to-do"
    assert run.output["backlogAtStart"] == 0
    assert run.output["modelStartedByRun"] is False
    assert "Start Model" not in run.entered
    assert "Enable Consumer" not in run.entered
    assert stack.model_usage()["startCalls"] == 0
    assert stack.model_status() == "TRAINING_COMPLETED"
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"
    assert stack.result_documents() == {}


def test_the_test_event_left_by_a_fresh_deployment_is_removed_without_starting_the_model(
    stack: StackUnderTest,
) -> None:
    # Given the image queue as the deployment left it: holding only the s3:TestEvent that S3 sent when the
    # bucket notification was written, and no image uploaded
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody=stack.deploy_test_event
    )

    # When the first scheduled batch run goes from start to end
    run = stack.run_to_end()

    # Then the run looked at the few waiting messages, deleted the test event and found nothing to do: the
    # model was never started, and nothing is left on either queue
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "nothing-to-do"
    assert stack.model_usage()["startCalls"] == 0
    assert stack.queue_backlog() == 0
    assert stack.result_documents() == {}
    assert stack.dead_letters() == 0


def test_a_model_already_running_is_used_and_left_running(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given a model someone else started and three images waiting
    stack.start_model_as_operator()
    uploaded = stack.upload_samples(samples[:3])

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then every image was analyzed by the running model, which the run neither started nor stopped
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    assert run.output["backlogAtStart"] == 3
    assert run.output["modelStartedByRun"] is False
    assert run.output["modelStoppedByRun"] is False
    documents = stack.result_documents()
    assert set(documents) == {stack.expected_result_key(key) for key in uploaded}
    assert all(document["status"] == "ok" for document in documents.values())
    assert stack.model_status() == "RUNNING"
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 0)
    # And the run switched its consumer off and never claimed the model
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"
    assert stack.queue_backlog() == 0


def test_images_uploaded_while_a_run_drains_are_processed_in_that_run(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given a run started for a first wave of three images
    first_wave = stack.upload_samples(samples[:3], folder="first/")
    execution_arn = stack.start_run()

    # When a second wave arrives once the run has enabled the consumer, while it drains the queue
    stack.wait_for_consumer("Enabled")
    second_wave = stack.upload_samples(samples[3:], folder="second/")
    assert stack.execution(execution_arn).status == "RUNNING"
    run = stack.wait(execution_arn)

    # Then that one run analyzed both waves, having counted only the first at its start
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    assert run.output["backlogAtStart"] == 3
    assert [execution["executionArn"] for execution in stack.executions()] == [execution_arn]
    documents = stack.result_documents()
    assert set(documents) == {stack.expected_result_key(key) for key in first_wave | second_wave}
    for key, sample in (first_wave | second_wave).items():
        assert_labels_match(documents[stack.expected_result_key(key)], sample)
    # And the model was started once and stopped at the end
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)
    assert stack.consumer_state() == "Disabled"
    assert stack.queue_backlog() == 0
