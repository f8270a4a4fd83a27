"""Fixtures of the operations tests (the local stack itself comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from labelbatch.images import SampleImage, generate_sample_images


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[SampleImage]:
    """Six PNG and JPEG images (names with spaces and non-ASCII letters) and the boxes drawn on each."""
    return generate_sample_images(tmp_path_factory.mktemp("samples"), 6)
