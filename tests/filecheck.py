"""A FileCheck subset for golden IR tests.

Directives (with the default prefix ``CHECK``): ``CHECK:``, ``CHECK-NEXT:``,
``CHECK-SAME:``, ``CHECK-NOT:``, ``CHECK-DAG:``, ``CHECK-LABEL:``,
``CHECK-EMPTY:``. Patterns are literal text; ``{{re}}`` embeds a regex,
``[[NAME:re]]`` captures, ``[[NAME]]`` reuses a capture. Runs of blanks in a
pattern match any run of blanks, as in LLVM's FileCheck.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

_KINDS = ("NEXT", "SAME", "NOT", "DAG", "LABEL", "EMPTY")


@attrs.frozen
class Directive:
    kind: str  # "" for plain CHECK
    pattern: str
    line: int  # in the check file, for messages


class CheckFailure(AssertionError):
    pass


def parse_directives(check_text: str, prefixes: Sequence[str] = ("CHECK",)) -> list[Directive]:
    alt = "|".join(re.escape(p) for p in prefixes)
    rx = re.compile(rf"(?:^|[^A-Za-z0-9_-])({alt})(?:-({'|'.join(_KINDS)}))?:(.*)$")
    out = []
    for i, line in enumerate(check_text.splitlines(), 1):
        m = rx.search(line)
        if m:
            out.append(Directive(m.group(2) or "", m.group(3).strip(), i))
    return out


def _compile(pattern: str, variables: dict[str, str]) -> tuple[re.Pattern[str], list[str]]:
    parts: list[str] = []
    captures: list[str] = []
    pos = 0
    token = re.compile(r"\{\{(.*?)\}\}|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::(.*?))?\]\]")
    for m in token.finditer(pattern):
        parts.append(_literal(pattern[pos:m.start()]))
        if m.group(1) is not None:
            parts.append(f"(?:{m.group(1)})")
        elif m.group(3) is not None:
            parts.append(f"(?P<{m.group(2)}>{m.group(3)})")
            captures.append(m.group(2))
        else:
            name = m.group(2)
            if name not in variables:
                raise CheckFailure(f"variable [[{name}]] is used before it is defined")
            parts.append(re.escape(variables[name]))
        pos = m.end()
    parts.append(_literal(pattern[pos:]))
    return re.compile("".join(parts)), captures


def _literal(text: str) -> str:
    return r"[ \t]+".join(re.escape(chunk) for chunk in re.split(r"[ \t]+", text))


def filecheck(output: str, check_text: str, prefixes: Sequence[str] = ("CHECK",)) -> None:
    """Raise CheckFailure unless ``output`` satisfies the directives in ``check_text``."""
    directives = parse_directives(check_text, prefixes)
    if not directives:
        raise CheckFailure(f"no {'/'.join(prefixes)} directives found")
    lines = output.splitlines()
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
    text = "\n".join(lines) + "\n"
    variables: dict[str, str] = {}
    pos = 0  # where the next search begins
    last_line = -1  # line index of the previous match
    pending_not: list[Directive] = []
    dag_group: list[Directive] = []

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def fail(d: Directive, message: str) -> CheckFailure:
        near = lines[last_line] if 0 <= last_line < len(lines) else "<start>"
        return CheckFailure(f"check line {d.line}: {message}: '{d.pattern}'\n"
                            f"  after output line {last_line + 1}: {near}\n--- output ---\n{output}")

    def check_nots(end: int, d_after: Directive | None) -> None:
        for n in pending_not:
            rx, _ = _compile(n.pattern, variables)
            m = rx.search(text, pos, end)
            if m:
                raise fail(n, f"CHECK-NOT matched at output line {line_of(m.start()) + 1}")
        pending_not.clear()

    def flush_dags() -> None:
        nonlocal pos, last_line
        if not dag_group:
            return
        used: list[tuple[int, int]] = []
        end = pos
        for d in dag_group:
            rx, caps = _compile(d.pattern, variables)
            start = pos
            while True:
                m = rx.search(text, start)
                if not m:
                    raise fail(d, "CHECK-DAG pattern not found")
                if not any(m.start() < b and a < m.end() for a, b in used):
                    break
                start = m.start() + 1
            used.append((m.start(), m.end()))
            for c in caps:
                variables[c] = m.group(c)
            end = max(end, m.end())
        check_nots(min(a for a, _ in used), None)
        pos = end
        last_line = line_of(end - 1)
        dag_group.clear()

    for d in directives:
        if d.kind == "NOT":
            flush_dags()
            pending_not.append(d)
            continue
        if d.kind == "DAG":
            dag_group.append(d)
            continue
        flush_dags()
        if d.kind == "EMPTY":
            nxt = last_line + 1
            if nxt >= len(lines) or lines[nxt].strip():
                raise fail(d, "the next line is not empty")
            check_nots(starts[nxt], d)
            last_line = nxt
            pos = starts[nxt + 1] if nxt + 1 < len(starts) else len(text)
            continue
        rx, caps = _compile(d.pattern, variables)
        if d.kind == "SAME":
            if last_line < 0:
                raise fail(d, "CHECK-SAME has no previous match")
            m = rx.search(text, pos, starts[last_line + 1] - 1)
            if not m:
                raise fail(d, "not found on the same line")
        elif d.kind == "NEXT":
            nxt = last_line + 1
            if nxt >= len(lines):
                raise fail(d, "no next line")
            line_start = max(pos, starts[nxt])
            m = rx.search(text, line_start, starts[nxt + 1] - 1)
            if not m:
                raise fail(d, "not found on the next line")
        else:
            m = rx.search(text, pos)
            if not m:
                raise fail(d, "not found")
        check_nots(m.start(), d)
        for c in caps:
            variables[c] = m.group(c)
        pos = m.end()
        last_line = line_of(m.end() - 1 if m.end() > m.start() else m.start())
    flush_dags()
    check_nots(len(text), None)
