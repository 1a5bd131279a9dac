"""Rename the project: `make rename NAME=credit` turns every `churn` that names the project (the
package and its folder, the `churn` command, the wheel `churn_model`, the image, the metrics'
`churn_` prefix, the MLflow experiment and model names) into the new name.

The data stays as it is: the contract, the data pin, the pipeline's results and the examples
describe the user's table, so a column or file that happens to contain the old name keeps it.
Standard library only; run from the project root. Afterwards: `make install` (the package's
import name changed) and `make run`.
"""

from __future__ import annotations

import argparse
import keyword
import re
import subprocess
import sys
from pathlib import Path

# What describes the data rather than the project: never rewritten.
KEEP = ("contract.yaml", "data.dvc", "dvc.lock", "eval/", "examples/", "data/")
_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")


def current_name(root: Path) -> str:
    (package,) = [p.parent.name for p in (root / "src").glob("*/__init__.py")]
    return package


def _pattern(old: str) -> re.Pattern[str]:
    # `old` as a word of its own or the head of a compound (churn_model, churn-service,
    # churn.cli, src/churn/), never the tail of one (a column such as `wa_churn`).
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9])")


def _tracked(root: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [root / name for name in listed.split("\0") if name and not name.startswith(KEEP)]


def rename(root: Path, new: str) -> list[str]:
    """Rewrite the files and move the folders; return what changed."""
    old = current_name(root)
    if not _NAME.fullmatch(new) or keyword.iskeyword(new):
        raise ValueError(f"{new!r} is not a usable package name (lowercase, a-z 0-9 _)")
    if new == old:
        raise ValueError(f"the project is already called {old!r}")
    pattern = _pattern(old)
    changed = []
    for path in _tracked(root):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        renamed = pattern.sub(new, text)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")
            changed.append(str(path.relative_to(root)))
    template = root / "src" / old / "deliver" / "wheel" / "template"
    for folder in (template / f"{old}_model", root / "src" / old):
        if folder.is_dir():
            target = folder.with_name(pattern.sub(new, folder.name))
            subprocess.run(["git", "mv", str(folder), str(target)], cwd=root, check=False)
            if folder.exists():  # not under git (yet): a plain move
                folder.rename(target)
            changed.append(f"{folder.relative_to(root)} -> {target.relative_to(root)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the new name: lowercase letters, digits and _")
    args = parser.parse_args(argv)
    root = Path.cwd()
    try:
        changed = rename(root, args.name)
    except (ValueError, OSError) as exc:
        print(f"rename: {exc}", file=sys.stderr)
        return 2
    print(f"renamed the project to {args.name!r}: {len(changed)} files and folders changed.")
    print("Next: `make install` (the package's import name changed), then `make run`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
