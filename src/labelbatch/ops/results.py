"""`results`: result documents by image key or by time written, read or downloaded.

The document's shape is defined once, in functions/analyze_image/result.py; this module only reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from analyze_image import result
from labelbatch.ops.target import Stack
from labelbatch.ops.times import iso


class Label(TypedDict):
    name: str
    confidence: float


class ResultEntry(TypedDict):
    imageKey: str
    resultKey: str
    writtenAt: str
    status: str
    """ok or error, as in the document."""
    labels: list[Label]
    error: dict[str, str] | None
    downloadedTo: str | None
    document: dict[str, Any]


class ResultsReport(TypedDict):
    results: list[ResultEntry]
    missing: list[str]
    """Image keys asked for that have no result."""


def result_key_for(stack: Stack, key: str) -> str:
    """The result key for a key given as an image key, a key relative to InputPrefix, or a result key."""
    input_prefix, results_prefix = stack.outputs["InputPrefix"], stack.outputs["ResultsPrefix"]
    if key.startswith(results_prefix) and key.endswith(".json"):
        return key
    image_key = key if key.startswith(input_prefix) else input_prefix + key
    return result.result_key(image_key, input_prefix=input_prefix, results_prefix=results_prefix)


def image_key_for(stack: Stack, result_key: str) -> str:
    relative = result_key.removeprefix(stack.outputs["ResultsPrefix"]).removesuffix(".json")
    return stack.outputs["InputPrefix"] + relative


def find_results(
    stack: Stack, *, keys: Iterable[str] = (), since: datetime | None = None, download: Path | None = None
) -> ResultsReport:
    """The results of the named images, and those written at or after `since`; each written under
    `download` (as <download>/<result key>) when given."""
    s3 = stack.client("s3")
    bucket = stack.outputs["ImageBucketName"]
    wanted: dict[str, str] = {}
    missing: list[str] = []
    for key in keys:
        try:
            wanted[result_key_for(stack, key)] = key
        except ValueError:
            # Its result key would pass S3's key limit: the function cannot have written one.
            missing.append(key)
    if since is not None:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=stack.outputs["ResultsPrefix"]
        ):
            for item in page.get("Contents", []):
                if item["LastModified"] >= since and item["Key"].endswith(".json"):
                    wanted.setdefault(item["Key"], image_key_for(stack, item["Key"]))
    results: list[ResultEntry] = []
    for result_key, asked in wanted.items():
        try:
            response = s3.get_object(Bucket=bucket, Key=result_key)
        except s3.exceptions.NoSuchKey:
            missing.append(asked)
            continue
        body = response["Body"].read()
        target = None
        if download is not None:
            target = download / result_key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        results.append(_entry(stack, result_key, json.loads(body), response["LastModified"], target))
    results.sort(key=lambda entry: entry["imageKey"])
    return ResultsReport(results=results, missing=missing)


def _entry(
    stack: Stack, result_key: str, document: dict[str, Any], written: datetime, target: Path | None
) -> ResultEntry:
    labels = [
        Label(name=str(label.get("Name", "?")), confidence=round(float(label.get("Confidence", 0.0)), 1))
        for label in document.get("customLabels") or []
    ]
    image = document.get("image") or {}
    return ResultEntry(
        imageKey=str(image.get("key") or image_key_for(stack, result_key)),
        resultKey=result_key,
        writtenAt=iso(written),
        status=str(document.get("status")),
        labels=labels,
        error=document.get("error"),
        downloadedTo=str(target) if target else None,
        document=document,
    )
