"""The reaper's configuration, parsed once from the environment variables the template sets."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

_REQUIRED = (
    "PROJECT_ARN",
    "PROJECT_VERSION_ARN",
    "IMAGE_QUEUE_URL",
    "EVENT_SOURCE_MAPPING_ID",
    "MODEL_START_MARKER_PARAMETER",
    "RUN_LOCK_TABLE",
)


class SettingsError(ValueError):
    """The environment does not describe a usable configuration: the reaper fails until it is fixed."""


@dataclass(frozen=True, slots=True)
class Settings:
    project_arn: str
    project_version_arn: str
    image_queue_url: str
    event_source_mapping_id: str
    marker_parameter_name: str
    run_lock_table: str

    @property
    def version_name(self) -> str:
        """DescribeProjectVersions takes version names: the fourth '/'-field of the version ARN."""
        return self.project_version_arn.split("/")[3]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in _REQUIRED if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        version_arn = env["PROJECT_VERSION_ARN"]
        # arn:...:project/<project-name>/version/<version-name>/<timestamp>
        fields = version_arn.split("/")
        if len(fields) != 5 or fields[2] != "version":
            raise SettingsError(f"PROJECT_VERSION_ARN is not a Rekognition model ARN: {version_arn!r}")
        return cls(
            project_arn=env["PROJECT_ARN"],
            project_version_arn=version_arn,
            image_queue_url=env["IMAGE_QUEUE_URL"],
            event_source_mapping_id=env["EVENT_SOURCE_MAPPING_ID"],
            marker_parameter_name=env["MODEL_START_MARKER_PARAMETER"],
            run_lock_table=env["RUN_LOCK_TABLE"],
        )


@functools.cache
def get_settings() -> Settings:
    """Parsed on first use, not at import; tests that change the environment call `cache_clear()`."""
    return Settings.from_env(os.environ)
