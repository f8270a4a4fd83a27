"""The function's settings, parsed from the environment the template sets."""

from __future__ import annotations

import re

import pytest

from analyze_image.settings import Settings, SettingsError, get_settings

ENV = {
    "IMAGE_BUCKET": "labelbatch-images-example",
    "INPUT_PREFIX": "images/",
    "RESULTS_PREFIX": "results/",
    "PROJECT_VERSION_ARN": "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1",
    "MIN_CONFIDENCE": "",
    "IMAGE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-images",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-images-dlq",
    "RETRY_DELAY_SECONDS": "10",
}


def test_the_template_environment_becomes_typed_settings():
    assert Settings.from_env(ENV) == Settings(
        image_bucket="labelbatch-images-example",
        input_prefix="images/",
        results_prefix="results/",
        project_version_arn="arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1",
        min_confidence=None,
        image_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-images",
        dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-images-dlq",
        retry_delay_seconds=10,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", None), ("  ", None), ("0", 0.0), ("72.5", 72.5), ("100", 100.0)],
)
def test_min_confidence_empty_means_the_model_thresholds(raw, expected):
    assert Settings.from_env(ENV | {"MIN_CONFIDENCE": raw}).min_confidence == expected


def test_an_absent_min_confidence_means_the_model_thresholds():
    env = {name: value for name, value in ENV.items() if name != "MIN_CONFIDENCE"}
    assert Settings.from_env(env).min_confidence is None


@pytest.mark.parametrize("raw", ["high", "-0.1", "100.5", "nan", "inf"])
def test_a_min_confidence_rekognition_would_refuse_is_a_settings_error(raw):
    with pytest.raises(
        SettingsError, match=re.escape(f"MIN_CONFIDENCE must be a number from 0 to 100, got {raw!r}")
    ):
        Settings.from_env(ENV | {"MIN_CONFIDENCE": raw})


def test_missing_variables_are_all_named():
    env = {"INPUT_PREFIX": "images/", "IMAGE_BUCKET": ""}
    with pytest.raises(
        SettingsError,
        match=(
            r"^missing environment variables: DEAD_LETTER_QUEUE_URL, IMAGE_BUCKET, IMAGE_QUEUE_URL, "
            r"PROJECT_VERSION_ARN, RESULTS_PREFIX, RETRY_DELAY_SECONDS$"
        ),
    ):
        Settings.from_env(env)


@pytest.mark.parametrize("raw", ["0", "301", "10.5", "ten", " "])
def test_a_retry_delay_outside_1_to_300_seconds_is_a_settings_error(raw):
    # 300 s keeps every retry inside the queue's 360 s visibility timeout (the template enforces the same)
    with pytest.raises(
        SettingsError,
        match=re.escape(f"RETRY_DELAY_SECONDS must be a whole number of seconds from 1 to 300, got {raw!r}"),
    ):
        Settings.from_env(ENV | {"RETRY_DELAY_SECONDS": raw})


def test_input_prefix_must_be_set_but_may_be_empty():
    assert Settings.from_env(ENV | {"INPUT_PREFIX": ""}).input_prefix == ""
    without = {name: value for name, value in ENV.items() if name != "INPUT_PREFIX"}
    with pytest.raises(SettingsError, match=r"^missing environment variables: INPUT_PREFIX$"):
        Settings.from_env(without)


@pytest.mark.parametrize(("input_prefix", "results_prefix"), [("results/", "results/"), ("out/in/", "out/")])
def test_an_input_prefix_under_the_results_prefix_is_refused(input_prefix, results_prefix):
    # Every image would count as a result and be ignored.
    with pytest.raises(SettingsError, match="lies under RESULTS_PREFIX"):
        Settings.from_env(ENV | {"INPUT_PREFIX": input_prefix, "RESULTS_PREFIX": results_prefix})


def test_settings_are_read_once_until_the_cache_is_cleared(monkeypatch, function_environment):
    # Given settings read once
    first = get_settings()

    # When the environment changes
    monkeypatch.setenv("MIN_CONFIDENCE", "55")

    # Then the same settings are served until cache_clear, which the local stack and the tests call
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().min_confidence == 55.0
