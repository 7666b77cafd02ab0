"""The one exception type for bad input.

Library code raises `InputError` with a message that names the file (or video) and the problem; the CLI prints
that one line and exits with status 2. Anything else is a bug and keeps its traceback.
"""

import re


class InputError(Exception):
    """Bad user input: a missing or corrupt file, wrong fields or shapes, NaN, a box outside the frame, ..."""


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_WORKER_HEADER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.")


def one_line(message: str) -> str:
    """`message` as one printable line: ANSI escapes and control characters removed, lines joined.

    A DataLoader worker re-raises an InputError with the worker's whole traceback in its message; only the
    original message (the traceback's last line) is kept.
    """
    text = _ANSI.sub("", str(message))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and _WORKER_HEADER.match(lines[0]):
        lines = [lines[-1].removeprefix(f"{InputError.__module__}.InputError:").strip()]
    return "".join(c if c.isprintable() else " " for c in " ".join(lines))
