"""Fixtures of the end-to-end tests (the local stack itself comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelbatch.images import SampleImage, generate_sample_images


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[SampleImage]:
    """Six PNG and JPEG images (names with spaces and non-ASCII letters) and the boxes drawn on each."""
    directory: Path = tmp_path_factory.mktemp("samples")
    return generate_sample_images(directory, 6)
