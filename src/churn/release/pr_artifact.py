"""The hand-over from pr.yml (untrusted) to pr-comment.yml (trusted): a report and a PR number.

pr.yml runs the pull request's code and leaves `reports/` as an artifact: the report, its
assets, the metrics and the PR number. pr-comment.yml has a token that can write comments, so
it treats that artifact as data an attacker may have written: the number must be a plain
positive integer and the report a regular UTF-8 file inside the artifact, small enough for one
GitHub comment, whose links and images point only at files of the artifact or at web pages
(`report_links`: CML would otherwise upload any file they name). Nothing from it is executed or
pasted into a shell.

Standard library only (and `churn.comment_limit`, which imports nothing), so the comment
workflow runs it without installing the project:
`python3 -m churn.release.pr_artifact {collect,check} ...`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

# One number for this check and the report's renderer (which cuts the report to fit it).
from churn.comment_limit import MAX_COMMENT_CHARS
from churn.release import report_links

NUMBER_FILE = "pr-number"
REPORT_FILE = "report.md"
METRICS_FILE = "metrics.json"
# Up to ten digits, no sign, no leading zero, one optional trailing newline, nothing else.
_NUMBER = re.compile(r"[1-9][0-9]{0,9}\n?")


class ArtifactError(ValueError):
    """The artifact is not what pr.yml writes; nothing from it may be used."""


def parse_number(text: str) -> int:
    """The pull request number in `text`, which must be a plain positive integer."""
    if not _NUMBER.fullmatch(text):
        raise ArtifactError(f"{NUMBER_FILE} must hold a positive integer, got {text[:40]!r}")
    return int(text)


def collect(reports: Path, number: str, metrics: Path) -> Path:
    """Put the PR number and a copy of the metrics beside the report (pr.yml's side)."""
    value = parse_number(number)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / NUMBER_FILE).write_text(f"{value}\n", encoding="utf-8")
    if metrics.is_file():
        shutil.copyfile(metrics, reports / METRICS_FILE)
    return reports


def _regular_file_inside(artifact: Path, name: str) -> Path:
    path = artifact / name
    # A symlink could point the trusted job at any file on the runner.
    if path.is_symlink() or not path.is_file():
        raise ArtifactError(f"the artifact has no regular file {name!r}")
    if not path.resolve().is_relative_to(artifact.resolve()):
        raise ArtifactError(f"{name!r} lies outside the artifact")
    return path


def check(artifact: Path) -> tuple[int, Path]:
    """Validate an untrusted artifact; return the PR number and the report's path."""
    if not artifact.is_dir():
        raise ArtifactError(f"artifact directory {artifact} does not exist")
    number_path = _regular_file_inside(artifact, NUMBER_FILE)
    if number_path.stat().st_size > 16:
        raise ArtifactError(f"{NUMBER_FILE} is too large to hold a PR number")
    try:
        number = parse_number(number_path.read_text(encoding="ascii"))
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{NUMBER_FILE} is not plain ASCII") from exc
    report = _regular_file_inside(artifact, REPORT_FILE)
    if report.stat().st_size > 4 * MAX_COMMENT_CHARS:
        raise ArtifactError(f"{REPORT_FILE} is larger than one GitHub comment")
    try:
        text = report.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{REPORT_FILE} is not UTF-8 text") from exc
    if len(text) > MAX_COMMENT_CHARS:
        raise ArtifactError(
            f"{REPORT_FILE} has {len(text)} characters; one comment holds {MAX_COMMENT_CHARS}"
        )
    refused = report_links.problems(text, artifact)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ArtifactError(f"{REPORT_FILE} {refused[0]}{more}")
    return number, report.resolve()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m churn.release.pr_artifact", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    collect_cmd = commands.add_parser("collect", help="pr.yml: add the PR number and metrics")
    collect_cmd.add_argument("--reports", type=Path, required=True, help="the report directory")
    collect_cmd.add_argument("--number", required=True, help="the pull request number")
    collect_cmd.add_argument("--metrics", type=Path, required=True, help="metrics JSON to copy")
    check_cmd = commands.add_parser(
        "check", help="pr-comment.yml: validate; print number= and report= lines"
    )
    check_cmd.add_argument("artifact", type=Path, help="the downloaded artifact directory")
    args = parser.parse_args(argv)
    try:
        if args.command == "collect":
            print(f"wrote {collect(args.reports, args.number, args.metrics) / NUMBER_FILE}")
        else:
            number, report = check(args.artifact)
            # `key=value` lines, ready to append to $GITHUB_OUTPUT.
            print(f"number={number}\nreport={report}")
    except (ArtifactError, OSError) as exc:
        print(f"pr-artifact: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
