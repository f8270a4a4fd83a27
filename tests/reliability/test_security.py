"""Security of the template, beyond what tests/template/ asserts on it after the SAM transform: checkov's
skips each justified in writing, checkov itself (when installed), and the promises read back from what the
local deployment created from the template (IAM roles, the bucket, the queues)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelbatch.local.stack import LocalStack, LocalStackConfig
from support.template import REPO_ROOT, TEMPLATE_PATH, allow_statements, as_list, load_template

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
CHECKOV_ARGUMENTS = ("--skip-download", "--framework", "cloudformation", "--output", "json")
# A reason is a sentence that says why, not a placeholder.
MIN_REASON_WORDS = 6


def checkov_skips() -> list[tuple[str, str, str]]:
    """(resource, check ID, written reason) for every checkov skip in template.yaml's resource metadata."""
    resources: dict[str, Any] = load_template(TEMPLATE_PATH)["Resources"]
    return [
        (logical_id, str(skip.get("id", "")), str(skip.get("comment", "") or ""))
        for logical_id, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_every_checkov_skip_has_a_written_reason() -> None:
    # Given the checkov checks template.yaml skips
    skips = checkov_skips()

    # Then there are some, each names a real check once per resource and says in a sentence why it is skipped
    assert skips
    for logical_id, check, reason in skips:
        assert check.startswith("CKV_AWS_"), (logical_id, check)
        assert check.removeprefix("CKV_AWS_").isdigit(), (logical_id, check)
        assert len(reason.split()) >= MIN_REASON_WORDS, (
            f"{logical_id} skips {check} without a reason: {reason!r}"
        )
    assert len({(logical_id, check) for logical_id, check, _ in skips}) == len(skips)


@pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov lives in .tools/checkov (make setup); make validate runs it"
)
def test_checkov_passes_with_only_the_justified_skips() -> None:
    # When checkov checks the template as `make validate` does (with a report to read)
    completed = subprocess.run(
        [str(CHECKOV), *CHECKOV_ARGUMENTS, "--file", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )

    # Then nothing fails, and what it skipped is exactly what the template justifies
    report = json.loads(completed.stdout)
    results = report["results"]
    assert results["failed_checks"] == [], completed.stdout
    skipped = {(check["resource"].split(".")[-1], check["check_id"]) for check in results["skipped_checks"]}
    assert skipped == {(logical_id, check) for logical_id, check, _ in checkov_skips()}
    assert all(check["check_result"].get("suppress_comment") for check in results["skipped_checks"])
    assert completed.returncode == 0


@pytest.fixture(scope="module")
def deployed() -> Iterator[LocalStack]:
    """The template deployed on the local stack (IAM is recorded there, not enforced: read, not tried)."""
    stack = LocalStack(LocalStackConfig(port=0, schedule=False, function_log_level="ERROR")).start()
    yield stack
    stack.stop()


def role_statements(stack: LocalStack) -> list[tuple[str, dict[str, Any]]]:
    iam = stack.client("iam")
    found = []
    for role in iam.list_roles()["Roles"]:
        for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
            found += [(role["RoleName"], statement) for statement in allow_statements(document)]
    return found


def test_deployed_roles_allow_no_wildcard_action(deployed: LocalStack) -> None:
    # Given the inline policies of every role the deployment created
    statements = role_statements(deployed)

    # Then every role has some, and no Allow statement names an action with a wildcard
    assert len({role for role, _ in statements}) >= 5
    for role, statement in statements:
        assert not [action for action in as_list(statement["Action"]) if "*" in action], (role, statement)


def test_deployed_roles_scope_rekognition_to_the_two_model_arns(deployed: LocalStack) -> None:
    # Given the stack's two model ARNs
    assert deployed.emulator is not None
    models = {deployed.emulator.project_arn, deployed.emulator.project_version_arn}

    # Then every statement allowing a Rekognition action names only those two, and the three roles that call
    # Rekognition have one
    rekognition = [
        (role, statement)
        for role, statement in role_statements(deployed)
        if any(action.startswith("rekognition:") for action in as_list(statement["Action"]))
    ]
    assert len({role for role, _ in rekognition}) == 3
    for role, statement in rekognition:
        assert set(as_list(statement["Resource"])) <= models, (role, statement)


def test_deployed_bucket_blocks_public_access_and_encrypts(deployed: LocalStack) -> None:
    # Given the image bucket the deployment created
    s3, bucket = deployed.client("s3"), deployed.outputs["ImageBucketName"]

    # Then every public access is blocked and objects are encrypted by default
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules] == ["AES256"]


def test_deployed_queues_are_encrypted(deployed: LocalStack) -> None:
    # Given the image queue and its dead-letter queue the deployment created
    sqs = deployed.client("sqs")
    urls = [deployed.outputs["ImageQueueUrl"], deployed.outputs["DeadLetterQueueUrl"]]

    # Then both encrypt their messages at rest
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["SqsManagedSseEnabled"])
        assert attributes["Attributes"]["SqsManagedSseEnabled"] == "true", url


def test_the_reliability_document_points_at_tests_that_exist() -> None:
    # Given the security section of docs/RELIABILITY.md's template
    text = Path(__file__).with_name("RELIABILITY.template.md").read_text(encoding="utf-8")

    # Then every test it names exists in the file it names
    references = [part for part in text.split("`") if "::test_" in part]
    assert len(references) >= 10
    for reference in references:
        file, _, name = reference.partition("::")
        assert (REPO_ROOT / file).is_file(), reference
        assert f"def {name}(" in (REPO_ROOT / file).read_text(encoding="utf-8"), reference
