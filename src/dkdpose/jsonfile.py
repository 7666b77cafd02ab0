"""Reading a JSON input file: one clear InputError per problem (missing, not JSON, wrong top-level type)."""

from __future__ import annotations

import json
from pathlib import Path

from dkdpose.errors import InputError


def read_json(path: str | Path, what: str, kind: type = dict, expect: str = "") -> dict | list:
    """Parse `path`; `what` names the file in messages ("predictions file"); `kind` is dict or list.

    `expect` describes the wanted content in the wrong-type message (default "a JSON object" / "a JSON list").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {what} is not valid JSON ({e})") from None
    if not isinstance(obj, kind):
        raise InputError(f"{path}: expected {expect or ('a JSON object' if kind is dict else 'a JSON list')}")
    return obj
