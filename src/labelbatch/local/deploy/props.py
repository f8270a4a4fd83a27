"""Typed access to a resource's resolved properties, so that no property is dropped without saying so."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from labelbatch.local.deploy.intrinsics import scalar_text
from labelbatch.local.deploy.model import TemplateError, UnsupportedPropertyError


class Props:
    """The properties of one resource (or one nested object of them).

    Every property must be read or explicitly ignored before `finish()`: a property the local deployer does
    not apply is an error naming it, as an unsupported resource type is.
    """

    def __init__(self, values: Any, where: str) -> None:
        if not isinstance(values, dict):
            raise TemplateError(f"{where}: expected an object, got {values!r}")
        self._values: dict[str, Any] = values
        self._unread = set(values)
        self.where = where

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __enter__(self) -> Props:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.finish()

    def names(self) -> list[str]:
        """The property names, for objects whose keys are data (substitutions, environment variables)."""
        return list(self._values)

    def value(self, key: str) -> Any:
        """The raw value, for documents and lists passed to a service as they are."""
        if key not in self._values:
            raise TemplateError(f"{self.where}: {key} is required")
        self._unread.discard(key)
        return self._values[key]

    def opt_value(self, key: str) -> Any:
        return self.value(key) if key in self._values else None

    def optional(self, read: Callable[[str], Any], *keys: str) -> dict[str, Any]:
        """`read(key)` (a method of this object) of each key that is set: an API call's optional arguments."""
        return {key: read(key) for key in keys if key in self._values}

    def text(self, key: str) -> str:
        return scalar_text(self.value(key), f"{self.where}.{key}")

    def opt_text(self, key: str) -> str | None:
        return self.text(key) if key in self._values else None

    def integer(self, key: str) -> int:
        value = self.value(key)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{self.where}.{key}: {value!r} is not an integer") from None

    def opt_integer(self, key: str) -> int | None:
        return self.integer(key) if key in self._values else None

    def number(self, key: str) -> float:
        value = self.value(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{self.where}.{key}: {value!r} is not a number") from None

    def flag(self, key: str, default: bool = False) -> bool:
        if key not in self._values:
            return default
        text = self.text(key).lower()
        if text not in ("true", "false"):
            raise TemplateError(f"{self.where}.{key}: {text!r} is not true or false")
        return text == "true"

    def document(self, key: str) -> str:
        """A JSON document property (a policy, a redrive policy) as the text the service API takes."""
        value = self.value(key)
        return value if isinstance(value, str) else json.dumps(value)

    def nested(self, key: str) -> Props:
        return Props(self.value(key), f"{self.where}.{key}")

    def nested_list(self, key: str) -> list[Props]:
        items = self.value(key)
        if not isinstance(items, list):
            raise TemplateError(f"{self.where}.{key}: expected a list, got {items!r}")
        return [Props(item, f"{self.where}.{key}[{index}]") for index, item in enumerate(items)]

    def text_list(self, key: str) -> list[str]:
        items = self.value(key)
        if not isinstance(items, list):
            raise TemplateError(f"{self.where}.{key}: expected a list, got {items!r}")
        return [scalar_text(item, f"{self.where}.{key}") for item in items]

    def ignore(self, *keys: str) -> None:
        """Properties with no effect on the emulated services (tags, settings only deletion uses)."""
        self._unread.difference_update(keys)

    def finish(self) -> None:
        if self._unread:
            raise UnsupportedPropertyError(self.where, sorted(self._unread))
