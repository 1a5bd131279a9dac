"""Every place a PR report may point at, and whether the trusted comment job may let CML see it.

`cml comment update --publish` (on when a repository sets CML_PUBLISH_IMAGES) takes the URL of
every Markdown image, link and reference definition, resolves it against the report's folder
like a file path (Node's `path.resolve`, which also folds the `..` in `https://x/../..`), and
uploads whatever file it finds there to a public host. The report is written by pull-request
code, so `![x](/etc/hostname)` would publish a file of the trusted runner. Hence the rules:

- an image (Markdown or HTML) must be a regular file inside the artifact: no symlink, nothing
  outside, no remote or `data:` image (the report generator never writes one, and a remote
  image in the bot's comment could track readers or show content no report produced);
- a link or a definition may also be an http(s) or mailto URL, or a `#fragment`, provided the
  path CML would compute for it stays inside the artifact.

The Markdown is not parsed exactly: every spot a Markdown parser could read as a destination
is checked (after `](`, after `]:`, inside `<scheme:...>` and `<user@host>`, and the URL
attributes of every HTML tag), each as written and with escapes, character references and
percent-escapes decoded. Text that only looks like a link (`[a](b)` inside a code span, say)
is checked too and may be refused: the report generator writes no such text. Standard
library only.
"""

from __future__ import annotations

import bisect
import html
import posixpath
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

# Links may leave the artifact only for these; any other scheme (file:, javascript:, data:) is
# refused.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,31}:")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK = re.compile(r"<([^\x00-\x20<>@]+@[^\x00-\x20<>@]+)>")
# Reports with longer destinations, or more places that may hold one, are refused unread: the
# check must stay fast on a hostile report. A generated report has a few dozen links at most.
MAX_URL_CHARS = 2048
MAX_LINKS = 1000
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# CommonMark decodes a destination left to right: a backslash before ASCII punctuation is an
# escape, and entity or numeric character references (with their semicolon) are replaced.
_ESCAPE_OR_REFERENCE = re.compile(
    r"\\([!-/:-@\[-`{-~])|(&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]*);)"
)
# HTML attributes holding a URL. `href` on these tags is a link; any other loads a resource.
_URL_ATTRIBUTES = frozenset(
    {"src", "srcset", "href", "poster", "data", "background", "action", "formaction", "cite",
     "longdesc", "usemap", "lowsrc", "dynsrc", "xlink:href"}
)  # fmt: skip
_LINK_TAGS = frozenset({"a", "area", "link"})


@dataclass(frozen=True)
class Target:
    """One destination in the report: what points at it, as written, and on which line."""

    kind: str  # "image", "link", "definition", "autolink", or "<tag attribute>"
    url: str
    line: int
    image: bool = False


class _Markdown:
    """The report with its bracket pairs and line starts worked out once, in linear time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.opening_of: dict[int, int] = {}  # index of a `]` -> index of its `[`
        self.closing_of: dict[int, int] = {}  # index of a `[` -> index of its `]`
        stack: list[int] = []
        escaped = False
        for index, char in enumerate(text):
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "[":
                stack.append(index)
            elif char == "]" and stack:
                opening = stack.pop()
                self.opening_of[index] = opening
                self.closing_of[opening] = index

    def line(self, index: int) -> int:
        return bisect.bisect_right(self._line_starts, index)

    def destination(self, start: int) -> str:
        """The link destination at `start`, after optional blanks and line ends; cut after
        MAX_URL_CHARS + 1 characters (and then refused)."""
        text, i = self.text, start
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        end = min(len(text), i + MAX_URL_CHARS + 2)
        if text.startswith("<", i):
            # <...>: up to the first unescaped `>` on the line. Unclosed, CommonMark makes no
            # link of it; it is read as a plain destination below, to be safe.
            j = i + 1
            while j < end and text[j] not in "\n>":
                j += 2 if text[j] == "\\" and text[j + 1 : j + 2] in _PUNCTUATION else 1
            if text.startswith(">", j):
                return text[i + 1 : j]
        # Plain: up to an ASCII blank or control (a no-break space belongs to it), or the `)`
        # that closes the link, nested parentheses balanced.
        depth, j = 0, i
        while j < end and ord(text[j]) > 0x20 and text[j] != "\x7f":
            char = text[j]
            if char == "\\" and text[j + 1 : j + 2] in _PUNCTUATION:
                j += 2
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        return text[i:j]


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


def _markdown_targets(text: str) -> list[Target]:
    doc = _Markdown(text)
    found: list[Target] = []
    for match in re.finditer(r"\]\(", text):
        opening = doc.opening_of.get(match.start())
        image = opening is not None and text[opening - 1 : opening] == "!"
        url = doc.destination(match.end())
        found.append(Target("image" if image else "link", url, doc.line(match.start()), image))
    definitions: dict[str, list[Target]] = {}
    for match in re.finditer(r"\]:", text):
        definition = Target("definition", doc.destination(match.end()), doc.line(match.start()))
        found.append(definition)
        opening = doc.opening_of.get(match.start())
        if opening is not None:
            label = _label(text[opening + 1 : match.start()])
            definitions.setdefault(label, []).append(definition)
    # Images by reference, ![text][label], ![label][] and ![label], show a definition's URL:
    # such definitions are checked as images too (once each).
    shown: set[str] = set()
    for match in re.finditer(r"!\[", text):
        close = doc.closing_of.get(match.end() - 1)
        if close is None or text.startswith("(", close + 1):
            continue
        label = text[match.end() : close]
        end = doc.closing_of.get(close + 1)
        if end is not None and end > close + 2:
            label = text[close + 2 : end]
        shown.add(_label(label))
    for label in shown & definitions.keys():
        found += [Target("image", d.url, d.line, True) for d in definitions[label]]
    for match in _AUTOLINK.finditer(text):
        found.append(Target("autolink", match.group(1), doc.line(match.start())))
    for match in _EMAIL_AUTOLINK.finditer(text):
        found.append(Target("autolink", f"mailto:{match.group(1)}", doc.line(match.start())))
    return found


class _TagScanner(HTMLParser):
    """The URL attributes of every HTML tag, wherever it stands in the Markdown."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.targets: list[Target] = []
        self.unreadable: int | None = None
        try:
            self.feed(text)
            self.close()
        except (AssertionError, ValueError):
            # The standard library's parser gives up on some `<!` declarations: what follows
            # would go unchecked, so the report is refused instead.
            self.unreadable = self.getpos()[0]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name not in _URL_ATTRIBUTES or value is None:
                continue
            if name == "srcset":  # "a.png 1x, b.png 2x"
                urls = [part.split()[0] for part in value.split(",") if part.strip()]
            else:
                urls = [value.strip()]
            image = not (name == "href" and tag in _LINK_TAGS)
            line = self.getpos()[0]
            self.targets += [Target(f"<{tag} {name}>", url, line, image) for url in urls]

    handle_startendtag = handle_starttag


def targets(markdown: str) -> list[Target]:
    """Every destination a Markdown renderer or CML could take from `markdown` (a superset).

    Raises `ValueError` when there are too many to read, or HTML that cannot be read to the end.
    """
    spots = sum(markdown.count(s) for s in ("](", "]:", "<"))
    if spots > MAX_LINKS:
        raise ValueError(
            f"{spots} places that may hold a link or tag; at most {MAX_LINKS} are read"
        )
    tags = _TagScanner(markdown)
    if tags.unreadable is not None:
        raise ValueError(f"line {tags.unreadable}: HTML that this check cannot read")
    return _markdown_targets(markdown) + tags.targets


def decoded(url: str) -> str:
    """The destination as a Markdown parser reads it: escapes and character references done."""
    return _ESCAPE_OR_REFERENCE.sub(
        lambda m: m.group(1) if m.group(1) is not None else html.unescape(m.group(2)), url
    )


def _readings(url: str) -> list[str]:
    """The URL as a Markdown parser, a browser or a server could decode it, and as written."""
    markdown = decoded(url)
    return list(dict.fromkeys([markdown, unquote(markdown), unquote(url), url]))


def _inside(root: Path, path: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _problem(target: Target, reading: str, root: Path) -> str | None:
    if len(reading) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    # Where CML looks for a file to upload: path.resolve(<report folder>, url), `..` folded.
    where = Path(posixpath.normpath(posixpath.join(str(root), reading)))
    scheme = reading.split(":", 1)[0].lower() if _SCHEME.match(reading) else None
    if not _inside(root, where):
        if scheme:
            return "leads outside the artifact when read as a path, as CML reads it"
        return "is not a file inside the artifact"
    if scheme and target.image:
        return "is not a file inside the artifact (images must be files of the artifact)"
    if scheme:
        if scheme not in LINK_SCHEMES:
            return f"uses the scheme {scheme!r} (links may use {', '.join(sorted(LINK_SCHEMES))})"
        return None
    if reading.startswith("#") and not target.image:
        return None
    path = root / reading
    try:
        if not reading or path.is_symlink() or not path.is_file():
            return "is not a file inside the artifact"
        if not _inside(root, path.resolve()):
            return "is not a file inside the artifact (it resolves outside)"
    except (OSError, ValueError):  # a name too long, a NUL byte: no file of the artifact
        return "is not a file inside the artifact"
    return None


def problems(markdown: str, root: Path) -> list[str]:
    """Why each offending destination of `markdown` (a report in folder `root`) is refused."""
    root = root.resolve()
    try:
        every = targets(markdown)
    except ValueError as exc:
        return [str(exc)]
    found = []
    for target in every:
        for reading in _readings(target.url):
            reason = _problem(target, reading, root)
            if reason:
                found.append(f"line {target.line}: {target.kind} target {reading[:80]!r} {reason}")
                break
    return found
