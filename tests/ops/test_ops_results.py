"""`labelbatch results` and `annotate`: result documents by image key or by time written, shown or
downloaded; a PNG per image with its boxes and labels drawn, and an index.html contact sheet that a browser
shows whole (opened here in headless Chromium). One run writes the results every test here reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from labelbatch.images import SampleImage
from ops.conftest import Operator, SharedStack, make_idle
from support.stack_helpers import StackUnderTest

ENTRY_KEYS = {"imageKey", "resultKey", "writtenAt", "status", "labels", "error", "downloadedTo", "document"}
NOT_AN_IMAGE = "notes <draft>.png"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What keeps headless Chromium from reaching for the network or a desktop session on a closed machine.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM_TIMEOUT_SECONDS = 120
ARTIFACTS = Path(
    os.environ.get("LABELBATCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
# Run in the page once loaded: each image's load state and the page's text, into the DOM Chromium dumps.
REPORT_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((image) => ({
    alt: image.alt, complete: image.complete, width: image.naturalWidth,
  }));
  const report = document.createElement("pre");
  report.id = "load-report";
  report.textContent = JSON.stringify({images, text: document.body.innerText});
  document.body.appendChild(report);
});
</script>
"""


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[StackUnderTest]:
    """The shared stack, for tests that only read what `analyzed` wrote once: made idle after the last."""
    yield shared_stack.stack
    make_idle(shared_stack)


@pytest.fixture(scope="module")
def analyzed(stack: StackUnderTest, samples: list[SampleImage]) -> dict[str, SampleImage]:
    """Three sample images, each with its result; and a file that is no image, with an error result."""
    uploaded = stack.upload_samples(samples[:3])
    stack.upload(stack.input_prefix + NOT_AN_IMAGE, b"these are not the pixels you are looking for")
    assert stack.run_to_end().status == "SUCCEEDED"
    return uploaded


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_SECONDS,
        check=False,
    )


def test_results_by_image_key_show_labels_and_download_the_documents(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage], tmp_path: Path
) -> None:
    # Given two of the images, one named with InputPrefix and one without
    first, second, _ = sorted(analyzed)
    relative = second.removeprefix(stack.input_prefix)

    # When the operator asks for their results and downloads them
    answer = operator.json("results", first, relative, "--download", str(tmp_path / "out"))

    # Then both documents are there, as stored, with their labels
    assert answer["missing"] == []
    entries = {entry["imageKey"]: entry for entry in answer["results"]}
    assert sorted(entries) == [first, second]
    documents = stack.result_documents()
    for image_key, entry in entries.items():
        assert set(entry) == ENTRY_KEYS
        result_key = stack.expected_result_key(image_key)
        assert (entry["resultKey"], entry["status"], entry["error"]) == (result_key, "ok", None)
        assert entry["document"] == documents[result_key]
        assert sorted(label["name"] for label in entry["labels"]) == sorted(
            box.name for box in analyzed[image_key].boxes
        )
        saved = tmp_path / "out" / result_key
        assert entry["downloadedTo"] == str(saved)
        assert json.loads(saved.read_text(encoding="utf-8")) == documents[result_key]


def test_results_since_a_time_or_a_duration(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage]
) -> None:
    # When the operator asks for the last hour's results, and for those after a time still to come
    last_hour = operator.json("results", "--since", "1h")
    future = operator.json("results", "--since", "2100-01-01T00:00:00Z")

    # Then the first lists every result, the second none
    every_key = [*analyzed, stack.input_prefix + NOT_AN_IMAGE]
    assert sorted(entry["imageKey"] for entry in last_hour["results"]) == sorted(every_key)
    assert future == {"results": [], "missing": []}


def test_an_image_without_a_result_is_named_and_exits_1(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage]
) -> None:
    # When the operator asks for an analyzed image and one never uploaded
    known = sorted(analyzed)[0]
    result = operator.run("results", known, "nowhere.png", "--json")

    # Then the known one is answered, the other named, exit 1
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert [entry["imageKey"] for entry in answer["results"]] == [known]
    assert answer["missing"] == ["nowhere.png"]
    assert result.stderr == (
        "error: No result for nowhere.png: check the keys (`labelbatch backfill --dry-run` lists images "
        "without one).\n"
    )


def test_the_human_results_table_names_each_image_and_its_labels(
    operator: Operator, analyzed: dict[str, SampleImage]
) -> None:
    result = operator.run("results", "--since", "30m")

    assert result.exit_code == 0, result.stderr
    assert "4 result(s)" in result.stdout
    assert "error InvalidImageFormatException" in result.stdout
    for image_key, sample in analyzed.items():
        assert image_key in result.stdout
        for box in sample.boxes:
            assert box.name in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "Error: Name image keys (images/cat.jpg), or pass --since WHEN (for example --since 1h)."),
        (
            ("--since", "yesterday"),
            "Error: Invalid value for '--since': 'yesterday' is not a time: give ISO-8601 "
            "(2026-11-22T10:00Z) or a duration back from now (30m, 1h, 2d).",
        ),
    ],
)
def test_usage_errors_exit_2_with_what_to_pass(
    operator: Operator, arguments: tuple[str, ...], message: str
) -> None:
    result = operator.run("results", *arguments)

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == message


def test_annotate_draws_each_image_and_marks_the_error_result(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage], tmp_path: Path
) -> None:
    # When the operator annotates the last hour's results
    out = tmp_path / "annotated"
    answer = operator.json("annotate", "--since", "1h", "--out", str(out))

    # Then each image has an annotated PNG of its own size, the non-image is an error without one
    assert (answer["out"], answer["index"], answer["missing"]) == (str(out), str(out / "index.html"), [])
    by_key = {image["imageKey"]: image for image in answer["images"]}
    error_key = stack.input_prefix + NOT_AN_IMAGE
    assert sorted(by_key) == sorted([*analyzed, error_key])
    for image_key, sample in analyzed.items():
        image = by_key[image_key]
        assert (image["status"], image["note"]) == ("ok", None)
        assert (
            image["annotatedPng"]
            == stack.expected_result_key(image_key).removesuffix(".json") + ".annotated.png"
        )
        with Image.open(out / image["annotatedPng"]) as drawn, Image.open(sample.path) as original:
            assert (drawn.format, drawn.size) == ("PNG", original.size)
    failed = by_key[error_key]
    assert (failed["status"], failed["annotatedPng"], failed["note"]) == (
        "error",
        None,
        "the file is not an image",
    )
    assert failed["error"]["code"] == "InvalidImageFormatException"
    assert (out / "index.html").is_file()


def test_annotate_of_named_keys_only(
    operator: Operator, analyzed: dict[str, SampleImage], tmp_path: Path
) -> None:
    chosen = sorted(analyzed)[0]

    answer = operator.json("annotate", chosen, "--out", str(tmp_path / "one"))

    assert [image["imageKey"] for image in answer["images"]] == [chosen]
    assert len(list((tmp_path / "one").rglob("*.annotated.png"))) == 1


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: `make setup` installs Debian's chromium"
)
def test_the_contact_sheet_shows_every_image_and_every_label_in_a_browser(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage], tmp_path: Path
) -> None:
    # Given the contact sheet of the last hour's results
    out = tmp_path / "sheet"
    answer = operator.json("annotate", "--since", "1h", "--out", str(out))
    index = out / "index.html"
    checked = out / "index.checked.html"
    checked.write_text(
        index.read_text(encoding="utf-8").replace("</body>", REPORT_SCRIPT + "</body>"), "utf-8"
    )

    # When headless Chromium opens it, and takes a screenshot of the page as the operator sees it
    dumped = chromium(tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom", checked.as_uri())
    screenshot = ARTIFACTS / "contact-sheet.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shot = chromium(
        tmp_path / "profile-shot", "--window-size=1400,1600", f"--screenshot={screenshot}", index.as_uri()
    )

    # Then every image loaded, every label and the error are on the page, and the screenshot was written
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    report_json = dumped.stdout.split('<pre id="load-report">', 1)[1].split("</pre>", 1)[0]
    report = json.loads(report_json.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    # One picture per image; the file that is no image has none.
    assert sorted(image["alt"] for image in report["images"]) == sorted(analyzed)
    assert all(image["complete"] and image["width"] > 0 for image in report["images"]), report["images"]
    for image in answer["images"]:
        assert image["imageKey"] in report["text"]
        for label in image["labels"]:
            assert f"{label['name']} {label['confidence']:.1f}%" in report["text"]
    assert "error: InvalidImageFormatException" in report["text"]
    assert shot.returncode == 0, shot.stderr[-2000:]
    with Image.open(screenshot) as picture:
        assert picture.size == (1400, 1600)
