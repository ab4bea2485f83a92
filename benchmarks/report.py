"""Where benchmark results go: a JSON file each, and a marked section each in docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path


def write_section(docs: Path, name: str, body: str) -> None:
    """Put ``body`` between the ``<!-- name:begin -->`` / ``<!-- name:end -->`` markers of
    ``docs`` (appended when absent), leaving every other section of the file alone."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.rstrip(chr(10))}\n{end}\n"
    text = docs.read_text() if docs.exists() else "# Benchmarks\n"
    start, stop = text.find(begin), text.find(end)
    if start >= 0 and stop > start:
        text = text[:start] + block + text[stop + len(end):].removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)
