"""What users put in the bucket that is not a plain file name or an image, and the message S3 itself sends."""

from __future__ import annotations

import json

from labelbatch.images import SampleImage
from support.stack_helpers import StackUnderTest, assert_labels_match

# S3 URL-encodes keys in notifications: a space becomes '+', '+' becomes %2B, '%' becomes %25, non-ASCII %XX.
ENCODED_NAMES = (
    "with space.png",
    "plus+sign.jpg",
    "100% sure.png",
    "already %25 encoded.jpg",
    "ünïcødé 写真.png",
    "deep/er/still deeper/a+b/leaf.jpg",
)


def test_keys_that_s3_encodes_get_results_under_their_exact_names(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given images whose keys S3 URL-encodes in its notifications, one of them five folders deep
    uploaded = {}
    for name, sample in zip(ENCODED_NAMES, samples, strict=True):
        key = stack.input_prefix + name
        stack.upload(key, sample.path.read_bytes())
        uploaded[key] = sample

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then each result sits at the key derived from the image's real key and names that key
    assert run.status == "SUCCEEDED"
    documents = stack.result_documents()
    assert sorted(documents) == sorted(stack.expected_result_key(key) for key in uploaded)
    for key, sample in uploaded.items():
        document = documents[stack.expected_result_key(key)]
        assert document["image"]["key"] == key
        assert document["status"] == "ok"
        assert_labels_match(document, sample)
    assert stack.dead_letters() == 0


def test_a_file_that_is_not_an_image_gets_an_error_result(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given a text file, a text file named like a JPEG, and one real image
    not_images = [f"{stack.input_prefix}notes.txt", f"{stack.input_prefix}not really a photo.jpg"]
    for key in not_images:
        stack.upload(key, b"these are words, not pixels\n", "text/plain")
    image_key = next(iter(stack.upload_samples(samples[:1])))

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then each non-image has an error result naming Rekognition's error code, and the image an ok one
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    documents = stack.result_documents()
    assert set(documents) == {stack.expected_result_key(key) for key in [*not_images, image_key]}
    for key in not_images:
        document = documents[stack.expected_result_key(key)]
        assert document["status"] == "error"
        assert document["customLabels"] is None
        assert document["image"]["key"] == key
        assert document["error"]["code"] == "InvalidImageFormatException"
        assert document["error"]["message"]
    assert documents[stack.expected_result_key(image_key)]["status"] == "ok"
    # And no message was retried into the dead-letter queue
    assert stack.queue_backlog() == 0
    assert stack.dead_letters() == 0


def test_the_s3_test_event_is_consumed_and_ignored(stack: StackUnderTest) -> None:
    # Given the s3:TestEvent message S3 sent when the deployment wrote the bucket notification, queued again
    assert json.loads(stack.deploy_test_event)["Event"] == "s3:TestEvent"
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody=stack.deploy_test_event
    )

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then the run consumed the message without analyzing anything or writing any result
    assert run.status == "SUCCEEDED"
    assert stack.result_documents() == {}
    assert stack.model_usage()["detectCustomLabelsCalls"] == 0
    # And the message is gone: neither back in the queue nor in the dead-letter queue
    assert stack.queue_backlog() == 0
    assert stack.dead_letters() == 0
    assert stack.consumer_state() == "Disabled"


def test_a_result_names_the_version_of_the_image_it_analyzed(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given an image uploaded to the stack's bucket, which the template makes versioned
    key = f"{stack.input_prefix}{samples[0].path.name}"
    version_id = stack.upload(key, samples[0].path.read_bytes(), "image/png")

    # When a batch run goes from start to end
    run = stack.run_to_end()

    # Then the result names the very version that was uploaded (S3 puts it in the notification)
    assert run.status == "SUCCEEDED"
    document = stack.result_documents()[stack.expected_result_key(key)]
    assert document["status"] == "ok"
    assert document["image"]["versionId"] == version_id
