"""Check that the user docs match the code: links, module paths, commands and history words.

    python tools/check_docs.py            # README.md and docs/**/*.md of this repository

Prints one line per problem and exits with status 1 when there is any:
- a relative link to a file that does not exist, or to a heading anchor that the file does not have;
- a dotted name `dkdpose.x.y` that does not import (module) or resolve (attribute);
- a `dkdpose ...` command in a code block that the command-line parser refuses (lines with `[optional]`
  syntax are skipped);
- words about who ran what, when, under which work item ("session", "issue", "engineer", "Update:"), which
  belong in commit messages, not in a user's page.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

from dkdpose.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
HISTORY = re.compile(r"\b(sessions?|issues?|engineers?|update:)", re.IGNORECASE)
DOTTED = re.compile(r"\bdkdpose(?:\.[A-Za-z_]\w*)+")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
COMMAND = re.compile(r"(?:^|\s|-m )dkdpose (\w[\w-]*)(.*)$")


def doc_files(root: Path) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces -> '-'."""
    heads = [line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def broken_links(path: Path) -> list[str]:
    """Relative links of `path` to a missing file or a missing heading."""
    problems = []
    for link in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", link):
            continue  # http:, https:, mailto:
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            problems.append(f"link to a missing file: {link}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"link to a missing heading: {link}")
    return problems


def resolves(dotted: str) -> bool:
    """True when `dotted` is an importable module, or an attribute chain under the longest importable one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def unresolved_names(text: str) -> list[str]:
    """The `dkdpose.x.y` names of `text` that do not resolve."""
    return [f"{name} does not resolve" for name in sorted(set(DOTTED.findall(text))) if not resolves(name)]


def refused_commands(text: str) -> list[str]:
    """The `dkdpose ...` command lines in the code blocks of `text` that the CLI parser refuses."""
    parser, problems = build_parser(), []
    for block in CODE_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            match = COMMAND.search(line)
            if line.startswith("#") or not match or "[" in match.group(2):
                continue
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    parser.parse_args(shlex.split(match.group(1) + match.group(2)))
            except SystemExit:
                problems.append(f"command refused by the parser: {line}")
    return problems


def history_words(text: str) -> list[str]:
    """Lines of `text` that speak about the history of the work instead of to the user."""
    return [f"history word {m.group(0)!r} in: {line.strip()[:80]}" for line in text.splitlines()
            for m in [HISTORY.search(line)] if m]  # fmt: skip


def check(path: Path) -> list[str]:
    """Every problem of one Markdown file."""
    text = path.read_text()
    found = broken_links(path) + unresolved_names(text) + refused_commands(text) + history_words(text)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md and docs/)")
    args = parser.parse_args()
    problems = [f"{path}: {p}" for path in args.files or doc_files(REPO) for p in check(path)]
    print("\n".join(problems) or "docs: no problems found")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
