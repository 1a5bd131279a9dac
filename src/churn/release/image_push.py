"""Publish exactly the image that passed the smoke test: by its ID, then by its digest.

release.yml builds the image once into the runner's Docker and smoke-tests it by image ID
(the digest of its configuration: content, not a name). `push` gives that same ID each tag
and pushes it, so no second build can slip in; afterwards every tag must still name that ID,
and the registry's digest is printed for $GITHUB_OUTPUT. `copy` puts that digest, manifest as
is, into another registry (Amazon ECR, for SageMaker) and checks the digest arrived unchanged.

    python3 -m churn.release.image_push push --image sha256:<id> --tags ghcr.io/o/r:<sha>,...
        -> digest=sha256:<manifest digest>  ref=ghcr.io/o/r@sha256:<manifest digest>
    python3 -m churn.release.image_push copy --source ghcr.io/o/r@sha256:<digest> \
        --to <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> [--login-ecr]

Standard library only; it drives the `docker` CLI (and `aws` for the ECR login), whose
outputs it reads in their documented formats.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class PushError(RuntimeError):
    """The image could not be published as tested; nothing after this may use it."""


def _docker(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PushError(f"docker {' '.join(args[:3])} failed: {detail[-1] if detail else ''}")
    return result.stdout


def repository(reference: str) -> str:
    """`registry/path/name` of `registry/path/name:tag` or `...@sha256:...`."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: -len(last.split(":", 1)[1]) - 1] if ":" in last else name


def image_id(reference: str) -> str:
    return _docker("image", "inspect", "--format", "{{.Id}}", reference).strip()


def push(image: str, tags: Sequence[str]) -> tuple[str, str]:
    """Push local image `image` (an ID) under every tag; return (digest, repository@digest)."""
    if not tags:
        raise PushError("no tags to push")
    tested = image_id(image)
    if not _DIGEST.fullmatch(tested):
        raise PushError(f"{image!r} is not a local image ID ({tested!r})")
    repositories = {repository(tag) for tag in tags}
    if len(repositories) != 1:
        raise PushError(f"the tags name several repositories: {sorted(repositories)}")
    for tag in tags:
        _docker("tag", tested, tag)
        print(f"pushing {tag} ({tested[:19]})", file=sys.stderr)
        _docker("push", tag)
        # A tag is a name: make sure it still names the tested image after the push.
        if image_id(tag) != tested:
            raise PushError(f"{tag} no longer names the smoke-tested image {tested}")
    (name,) = repositories
    pushed = json.loads(_docker("image", "inspect", "--format", "{{json .RepoDigests}}", tested))
    digests = {entry.split("@", 1)[1] for entry in pushed or [] if repository(entry) == name}
    if len(digests) != 1:
        raise PushError(f"expected one digest of {tested} in {name}, found {sorted(digests)}")
    (digest,) = digests
    return digest, f"{name}@{digest}"


def _login_ecr(target: str) -> None:
    """docker login to the ECR registry of `target`, with the job's AWS credentials."""
    registry = target.split("/", 1)[0]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region or not registry.endswith(".amazonaws.com"):
        raise PushError(f"{registry!r} is not an ECR registry, or AWS_REGION is not set")
    result = subprocess.run(
        ["aws", "ecr", "get-login-password", "--region", region],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PushError(f"aws ecr get-login-password failed: {result.stderr.strip()[-300:]}")
    _docker("login", "--username", "AWS", "--password-stdin", registry, stdin=result.stdout)


def copy(source: str, targets: Sequence[str], login_ecr: bool = False) -> str:
    """Copy the image `source` (repository@digest) to each target tag; return the digest."""
    digest = source.rsplit("@", 1)[-1]
    if "@" not in source or not _DIGEST.fullmatch(digest):
        raise PushError(f"the source must name a digest (repository@sha256:...), not {source!r}")
    for target in targets:
        if login_ecr:
            _login_ecr(target)
        _docker("buildx", "imagetools", "create", "--tag", target, source)
        arrived = json.loads(
            _docker("buildx", "imagetools", "inspect", target, "--format", "{{json .Manifest}}")
        ).get("digest")
        if arrived != digest:
            raise PushError(f"{target} has digest {arrived}, not the tested {digest}")
        print(f"copied {source} to {target}", file=sys.stderr)
    return digest


def _list(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churn.release.image_push", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    push_cmd = commands.add_parser("push", help="push the smoke-tested image ID under each tag")
    push_cmd.add_argument("--image", required=True, help="the local image ID that was tested")
    push_cmd.add_argument("--tags", required=True, help="comma- or newline-separated tags")
    copy_cmd = commands.add_parser("copy", help="copy an image by digest to other repositories")
    copy_cmd.add_argument("--source", required=True, help="repository@sha256:... to copy")
    copy_cmd.add_argument("--to", required=True, help="comma-separated target tags")
    copy_cmd.add_argument(
        "--login-ecr", action="store_true", help="log in to the targets' ECR registry first"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "push":
            digest, ref = push(args.image, _list(args.tags))
            # `key=value` lines, ready to append to $GITHUB_OUTPUT.
            print(f"digest={digest}\nref={ref}")
        else:
            copy(args.source, _list(args.to), login_ecr=args.login_ecr)
    except (PushError, OSError, ValueError) as exc:
        print(f"image-push: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
