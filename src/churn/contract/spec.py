"""The data contract as typed, frozen objects: `load(path)` reads `contract.yaml` once and refuses
anything it does not understand, naming the key.

Standard library and PyYAML only (no pydantic): the embedded wheel carries this package.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .derive import Expression, ExpressionError

Kind = Literal["number", "binary", "category"]
IdType = Literal["integer", "string"]
BlankRule = Literal["median", "mean", "most_frequent", "fill", "derive"]
# Learned from the training split by an imputer inside the model.
LEARNED_RULES = ("median", "mean", "most_frequent")
SOURCE_KINDS = ("package", "url")


class ContractError(ValueError):
    """The contract file is unreadable or says something impossible; the message names the key."""


@dataclass(frozen=True)
class Blank:
    """How a blank cell of a feature is filled."""

    rule: BlankRule
    # The constant of `fill`.
    value: float | str | None = None
    # The expression of `derive`.
    expression: Expression | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # None: a blank cell is refused.
    blank: Blank | None = None
    personal: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind != "category"

    @property
    def bounds(self) -> tuple[float, float]:
        """The closed interval values must lie in (binary: 0 and 1 only, checked apart)."""
        if self.kind == "binary":
            return 0.0, 1.0
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        return low, high

    @property
    def encoded_categories(self) -> tuple[str, ...]:
        """The categories the model encodes: the declared ones plus a new fill category."""
        fill = self.blank.value if self.blank is not None and self.blank.rule == "fill" else None
        if isinstance(fill, str) and fill not in self.categories:
            return (*self.categories, fill)
        return self.categories


@dataclass(frozen=True)
class IdColumn:
    name: str
    type: IdType
    personal: bool = False


@dataclass(frozen=True)
class Target:
    name: str
    positive: str
    negative: str


@dataclass(frozen=True)
class Source:
    """Where the raw table can be rebuilt from (see `stages.fetch`)."""

    kind: Literal["package", "url"]
    # package: the Python package and its dataset name; url: the address fsspec reads.
    package: str = ""
    dataset: str = ""
    url: str = ""
    # Columns renamed (to a new name) or dropped (to null) after reading.
    rename: dict[str, str | None] = field(default_factory=dict)
    # A format with one `{}` for the 1-based row number, e.g. "A{:05d}": the id column is
    # written from it (for sources that have no id of their own).
    row_ids: str = ""


@dataclass(frozen=True)
class Contract:
    data_path: str
    source: Source | None
    id: IdColumn
    target: Target
    features: tuple[Feature, ...]
    # sha256 of the file's bytes: identifies the contract a model was trained with.
    digest: str
    text: str

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Every column of the raw table, in contract order: id, target, features."""
        return (self.id.name, self.target.name, *self.feature_names)

    @property
    def personal(self) -> tuple[str, ...]:
        """Columns never to be written to prediction logs."""
        own = (self.id.name,) if self.id.personal else ()
        return own + tuple(f.name for f in self.features if f.personal)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def probability_field(self) -> str:
        """The name a prediction's probability goes by in answers, e.g. `churn_probability`."""
        return f"{self.target.name}_probability"


def load(path: Path | str) -> Contract:
    """Read and check a contract file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"no data contract at {path}") from None
    return parse(text, str(path))


def parse(text: str, source: str = "contract.yaml") -> Contract:
    """Check the text of a contract file; raise `ContractError` naming the first bad key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{source} is not valid YAML: {exc}") from None
    reader = _Reader(source)
    document = reader.mapping(raw, "", {"data", "id", "target", "features"})
    data = reader.mapping(document.get("data"), "data", {"path", "source"}, {"path"})
    id_spec = reader.mapping(document.get("id"), "id", {"column", "type", "personal"}, {"column"})
    target_spec = reader.mapping(
        document.get("target"), "target", {"column", "positive", "negative"}
    )
    id_column = IdColumn(
        name=reader.name(id_spec["column"], "id.column"),
        type=reader.choice(id_spec.get("type", "integer"), "id.type", ("integer", "string")),
        personal=reader.flag(id_spec.get("personal", False), "id.personal"),
    )
    target = Target(
        name=reader.name(target_spec.get("column"), "target.column"),
        positive=reader.text(target_spec.get("positive"), "target.positive"),
        negative=reader.text(target_spec.get("negative"), "target.negative"),
    )
    if target.positive == target.negative:
        raise reader.error("target", "positive and negative must differ")
    features = reader.features(document.get("features"))
    names = [id_column.name, target.name, *(f.name for f in features)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise reader.error("features", f"column(s) named twice: {', '.join(repeated)}")
    reader.check_expressions(features)
    return Contract(
        data_path=reader.text(data["path"], "data.path"),
        source=reader.source(data.get("source")),
        id=id_column,
        target=target,
        features=features,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        text=text,
    )


class _Reader:
    """Checks one document, naming the source file and the key of every problem."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, message: str) -> ContractError:
        where = f"{self.file}: {key}" if key else self.file
        return ContractError(f"{where}: {message}")

    def mapping(
        self, value: Any, key: str, allowed: set[str], required: set[str] | None = None
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, "must be a mapping of keys to values")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.error(
                key, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        missing = sorted((allowed if required is None else required) - set(value))
        if missing:
            raise self.error(key, f"missing key(s): {', '.join(missing)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, bool):
            raise self.error(
                key,
                f"{value} is a YAML boolean; quote the word ('\"Yes\"', '\"No\"') to make it text",
            )
        if not isinstance(value, str | int | float) or value == "":
            raise self.error(key, "must be a non-empty text value")
        return str(value)

    def name(self, value: Any, key: str) -> str:
        name = self.text(value, key)
        if name != name.strip() or not name.isprintable():
            raise self.error(key, f"{name!r} is not a usable column name")
        return name

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> Any:
        if value not in options:
            raise self.error(key, f"{value!r} is not one of {', '.join(options)}")
        return value

    def number(self, value: Any, key: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(key, f"{value!r} is not a finite number")
        return float(value)

    def features(self, value: Any) -> tuple[Feature, ...]:
        if not isinstance(value, dict) or not value:
            raise self.error("features", "must map each feature column to its description")
        return tuple(
            self.feature(self.name(name, "features"), spec) for name, spec in value.items()
        )

    def feature(self, name: str, spec: Any) -> Feature:
        key = f"features.{name}"
        allowed = {"kind", "categories", "min", "max", "blank", "personal"}
        spec = self.mapping(spec, key, allowed, {"kind"})
        kind = self.choice(spec["kind"], f"{key}.kind", ("number", "binary", "category"))
        categories: tuple[str, ...] = ()
        if kind == "category":
            listed = spec.get("categories")
            if not isinstance(listed, list) or not listed:
                raise self.error(f"{key}.categories", "a category needs its list of categories")
            categories = tuple(self.text(c, f"{key}.categories") for c in listed)
            if len(set(categories)) != len(categories):
                raise self.error(f"{key}.categories", "a category is listed twice")
        elif "categories" in spec:
            raise self.error(f"{key}.categories", f"only a category has categories, not a {kind}")
        bounds = {k: self.number(spec[k], f"{key}.{k}") for k in ("min", "max") if k in spec}
        if bounds and kind != "number":
            raise self.error(key, f"min and max apply to numbers, not to a {kind}")
        if bounds.get("min", -math.inf) > bounds.get("max", math.inf):
            raise self.error(key, "min is above max")
        feature = Feature(
            name=name,
            kind=kind,
            categories=categories,
            minimum=bounds.get("min"),
            maximum=bounds.get("max"),
            personal=self.flag(spec.get("personal", False), f"{key}.personal"),
        )
        if "blank" in spec:
            feature = Feature(**{**feature.__dict__, "blank": self.blank(spec["blank"], feature)})
        return feature

    def blank(self, value: Any, feature: Feature) -> Blank:
        key = f"features.{feature.name}.blank"
        if isinstance(value, str):
            rule = self.choice(value, key, LEARNED_RULES)
            if rule != "most_frequent" and not feature.numeric:
                raise self.error(key, f"{rule} needs numbers; a category can use most_frequent")
            return Blank(rule)
        spec = self.mapping(value, key, {"fill", "derive"}, set())
        if len(spec) != 1:
            raise self.error(
                key, "give one of: median, mean, most_frequent, {fill: V}, {derive: E}"
            )
        if "fill" in spec:
            if feature.numeric:
                fill: float | str = self.number(spec["fill"], f"{key}.fill")
                low, high = feature.bounds
                if not low <= fill <= high or (feature.kind == "binary" and fill not in (0, 1)):
                    raise self.error(f"{key}.fill", f"{fill:g} is not a value this column may hold")
            else:
                fill = self.text(spec["fill"], f"{key}.fill")
            return Blank("fill", value=fill)
        if feature.kind != "number":
            raise self.error(key, "derive computes numbers; use fill or most_frequent here")
        try:
            expression = Expression.parse(self.text(spec["derive"], f"{key}.derive"))
        except ExpressionError as exc:
            raise self.error(f"{key}.derive", str(exc)) from None
        return Blank("derive", expression=expression)

    def check_expressions(self, features: tuple[Feature, ...]) -> None:
        by_name = {f.name: f for f in features}
        for feature in features:
            if feature.blank is None or feature.blank.expression is None:
                continue
            key = f"features.{feature.name}.blank.derive"
            for used in feature.blank.expression.columns:
                other = by_name.get(used)
                if other is None or not other.numeric:
                    raise self.error(key, f"{used!r} is not a number or binary feature")
                if other.blank is not None:
                    raise self.error(
                        key, f"{used!r} may itself be blank; derive from complete ones"
                    )

    def source(self, value: Any) -> Source | None:
        if value is None:
            return None
        allowed = {"package", "dataset", "url", "rename", "row_ids"}
        spec = self.mapping(value, "data.source", allowed, set())
        kinds = [k for k in SOURCE_KINDS if k in spec]
        if len(kinds) != 1:
            raise self.error("data.source", "give exactly one of: package (with dataset), url")
        rename = spec.get("rename") or {}
        if not isinstance(rename, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in rename.items()
        ):
            raise self.error("data.source.rename", "must map column names to new names or null")
        row_ids = spec.get("row_ids", "")
        if row_ids:
            template = self.text(row_ids, "data.source.row_ids")
            try:
                varies = template.format(1) != template.format(2)
            except (IndexError, KeyError, ValueError):
                varies = False
            if not varies:
                raise self.error(
                    "data.source.row_ids", "must be a format with one {} for the row number"
                )
        if kinds[0] == "package":
            return Source(
                kind="package",
                package=self.text(spec["package"], "data.source.package"),
                dataset=self.text(spec.get("dataset"), "data.source.dataset"),
                rename=rename,
                row_ids=row_ids,
            )
        return Source(
            kind="url",
            url=self.text(spec["url"], "data.source.url"),
            rename=rename,
            row_ids=row_ids,
        )
