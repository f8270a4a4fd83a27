"""The part of a document a benchmark writes: everything between its two markers, markers included."""

from __future__ import annotations

from pathlib import Path


def replace_section(document: Path, begin: str, end: str, generated: str) -> None:
    """Put `generated` (which starts with `begin` and ends with `end`) where those markers stand now."""
    text = document.read_text() if document.exists() else ""
    if begin not in text:
        raise SystemExit(f"{document} has no '{begin}' marker to write between")
    head, rest = text.split(begin, 1)
    document.write_text(head + generated + rest.split(end, 1)[1])
