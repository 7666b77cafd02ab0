"""The one exception type for bad input.

Library code raises `InputError` with a message that names the file (or video) and the problem; the CLI prints
that one line and exits with status 2. Anything else is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad user input: a missing or corrupt file, wrong fields or shapes, NaN, a box outside the frame, ..."""
