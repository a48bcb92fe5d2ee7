"""The desk's data model: pages, claims, sources, the shared model's file, desk settings.

pydantic models in strict mode: a value of the wrong kind is an error, never silently coerced.
Values arrive from frontmatter.py already typed by the YAML 1.2 core schema; numbers arrive as
`YamlNumber` (digits as written) and are read by the validators below. `problems_from` turns a
pydantic ValidationError into located `Problem`s worded for a researcher, not a programmer.
The format is documented in kb/guide/claim-format.md; keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from .freshness import DEFAULT_STALE_AFTER, Period, Threshold, parse_day, parse_period
from .frontmatter import Loaded, YamlNumber
from .problems import Problem, did_you_mean, excerpt, field_name
from .units import UnitError, parse_unit
from .values import Stated, Tolerance, parse_tolerance, parse_value

STATUSES = ("error", "mismatch", "conflict", "stale", "due", "ok", "unchecked")  # most severe first
MKDOCS_PAGE_KEYS = ("hide", "icon", "status", "template", "search", "description")
ID_PATTERN = r"[a-z][a-z0-9_]{0,63}"
MAX_TEXT = 4000
_ID = re.compile(ID_PATTERN)
_METRIC = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_TAG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "claim_id"


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        suggestion = _snake(value)
        if not suggestion[0].isalpha():
            suggestion = "c_" + suggestion
        raise ValueError(f"'{value}' is not lower_snake_case (a letter, then letters, digits or _, at most "
                         f"64 characters); e.g. '{suggestion[:64]}'")
    return value


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"is {len(value)} characters long; at most {MAX_TEXT}")
    return value


def _check_expression(value: str) -> str:
    from .expr import MAX_LENGTH

    if len(value) > MAX_LENGTH:
        raise ValueError(f"expression is {len(value)} characters long; at most {MAX_LENGTH}")
    return _check_text(value)


def _check_metric(value: str) -> str:
    if not _METRIC.fullmatch(value):
        raise ValueError(f"'{value}' is not a dotted lower-case key like 'anthropic.gross_margin'")
    return value


def _check_tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise ValueError(f"tag '{value}' must be lower-case letters, digits, '-' or '_' (e.g. "
                         f"'{_snake(value).replace('_', '-')}')")
    return value


def _check_unit(value: str) -> str:
    try:
        parse_unit(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    return value


def _number(raw: Any) -> float:
    if isinstance(raw, YamlNumber):
        return float(raw.value)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*", raw, re.IGNORECASE):
        raise ValueError(f"expected a number, got the text '{raw}' (write it without quotes)")
    raise ValueError(f"expected a number, got {raw!r}")


MAX_PERIOD_COUNT = 1_000_000


MAX_GIVEN_TEXT = 200
GIVEN_REFERENCE = re.compile(rf"\s*(?:(?P<part>low|high|mid)\(\s*(?P<inner>{ID_PATTERN})\s*\)|(?P<name>{ID_PATTERN}))\s*")


def given_reference(text: str) -> tuple[str, str | None] | None:
    """A `given:` value that names a figure: 'rented_node_cost' -> ('rented_node_cost', None),
    'low(gpu_price_range)' -> ('gpu_price_range', 'low'); None when the text is not a name."""
    match = GIVEN_REFERENCE.fullmatch(text)
    if match is None:
        return None
    return (match["inner"], match["part"]) if match["part"] else (match["name"], None)


def given_text_message(name: str, text: str, unit: str) -> str:
    """How to write a `given:` value that is neither a number nor a name ('$16.8/h')."""
    number = re.search(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", text)
    example = f"{name}: {number[0]} (if {number[0]} is in {unit})" if number else f"{name}: 16.8"
    return (f"'{text}' is neither a number nor the id of a claim or model quantity; a number given here is read "
            f"in the parameter's own unit, {unit}, and written without a unit: {example}; or name a claim that "
            "states the figure")


def _given_value(raw: Any) -> float | str:
    """A `given:` value: a number in the parameter's own unit, or the name of a claim or model
    quantity (kept as text; whether it names something, and in which unit, is validate.py's and
    the checker's business, as they know the desk)."""
    if isinstance(raw, str) and not isinstance(raw, YamlNumber):
        if not raw.strip() or len(raw) > MAX_GIVEN_TEXT:
            raise ValueError(f"expected a number or the id of a claim or model quantity, got {_describe(raw)}")
        reference = given_reference(raw)
        if reference is None:
            return raw  # validate.py says how to write it, in the parameter's unit
        name, part = reference
        return name if part is None else f"{part}({name})"
    return _number(raw)


def _positive_int(raw: Any) -> int:
    if isinstance(raw, YamlNumber) and isinstance(raw.value, int) and raw.value > 0:
        return raw.value
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    raise ValueError(f"expected a whole number above 0, got {raw!r}")


def _stale_after(raw: Any) -> Threshold | Literal["never"]:
    if raw == "never":
        return "never"
    if isinstance(raw, Threshold):
        return raw
    if not isinstance(raw, dict):
        raise ValueError(f"write {{count: 12, period: month}} or never, got {raw!r}")
    unknown = set(raw) - {"count", "period"}
    if unknown or "count" not in raw or "period" not in raw:
        raise ValueError(f"write {{count: 12, period: month}} or never, got {raw!r}")
    if raw["period"] not in ("day", "week", "month", "year"):
        raise ValueError(f"period must be day, week, month or year, got {raw['period']!r}")
    count = _positive_int(raw["count"])
    if count > MAX_PERIOD_COUNT:  # the store keeps it as a 32-bit integer; a million days is ~2,700 years
        raise ValueError(f"count {count} is too large (at most {MAX_PERIOD_COUNT}); write never for a figure "
                         "that does not go stale")
    return Threshold(count, raw["period"])


def _json(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema(schema)


_PERIOD_SCHEMA = {"description": "a date or period: 2026-05-29, 2026-05, 2026-Q1, 2025-H2 or 2026",
                  "anyOf": [{"type": "string", "pattern": r"^[0-9]{4}(-([0-9]{2}|[QqHh][0-9]))?(-[0-9]{2})?$"},
                            {"type": "integer", "minimum": 1, "maximum": 9999}]}
_VALUE_SCHEMA = {"description": "a number, a [low, high] range, \"~0.81\" (approximate) or \">0.5\" (bound)",
                 "anyOf": [{"type": "number"},
                           {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                           {"type": "string", "pattern": r"^\s*([~≈]|>=|<=|>|<|≥|≤)?\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"}]}

Id = Annotated[str, AfterValidator(_check_id), Field(json_schema_extra={"pattern": f"^{ID_PATTERN}$"})]
Text = Annotated[str, AfterValidator(_check_text)]
Metric = Annotated[str, AfterValidator(_check_metric)]
Expression = Annotated[str, AfterValidator(_check_expression)]
Tag = Annotated[str, AfterValidator(_check_tag)]
UnitText = Annotated[str, AfterValidator(_check_unit)]
AsOf = Annotated[Period, PlainValidator(parse_period), _json(_PERIOD_SCHEMA)]
Day = Annotated[dt.date, PlainValidator(parse_day), _json({"type": "string", "format": "date"})]
Value = Annotated[Stated, PlainValidator(parse_value), _json(_VALUE_SCHEMA)]
ToleranceField = Annotated[Tolerance, PlainValidator(parse_tolerance),
                           _json({"anyOf": [{"type": "number", "minimum": 0},
                                            {"type": "string", "pattern": r"^\s*[0-9.]+(e[-+]?[0-9]+)?\s*%\s*$"}]})]
Number = Annotated[float, PlainValidator(_number), _json({"type": "number"})]
GivenValue = Annotated[float | str, PlainValidator(_given_value),
                       _json({"anyOf": [{"type": "number"},
                                        {"type": "string", "pattern": rf"^\s*(({ID_PATTERN})|(low|high|mid)\(\s*{ID_PATTERN}\s*\))\s*$"}]})]
StaleAfter = Annotated[Threshold | Literal["never"] | None, PlainValidator(_stale_after),
                       _json({"anyOf": [{"const": "never"},
                                        {"type": "object", "additionalProperties": False,
                                         "required": ["count", "period"],
                                         "properties": {"count": {"type": "integer", "minimum": 1, "maximum": MAX_PERIOD_COUNT},
                                                        "period": {"enum": ["day", "week", "month", "year"]}}}]})]
Status = Literal["error", "mismatch", "conflict", "stale", "due", "ok", "unchecked"]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


ACKNOWLEDGEABLE = ("mismatch", "conflict", "stale", "due")  # an error must be fixed, never acknowledged


class Acknowledgement(Strict):
    """A known finding on a claim that the desk has discussed and accepts, for a reason: it still
    shows, marked, but does not decide the claim's status or fail a run."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    finding: Literal["mismatch", "conflict", "stale", "due"]
    reason: Text
    with_: Id | None = Field(default=None, alias="with")  # conflicts: the other claim
    until: Day | None = None  # the last day it applies

    @model_validator(mode="after")
    def _with_for_conflicts(self) -> Acknowledgement:
        if self.with_ and self.finding != "conflict":
            raise ValueError(f"'with' names the other claim of a conflict; a {self.finding} has none: remove it")
        return self


class Claim(Strict):
    """One sourced statement; quantitative when it has a value and a unit."""

    id: Id
    text: Text
    stance: Literal["bull", "bear", "neutral"]
    sources: Annotated[list[Id], Field(min_length=1)]
    as_of: AsOf
    value: Value | None = None
    unit: UnitText | None = None
    tolerance: ToleranceField | None = None
    check: Expression | None = None
    given: dict[Id, GivenValue] | None = None
    metric: Metric | None = None
    attributed_to: Text | None = None
    review_by: Day | None = None
    resolves: Day | None = None
    stale_after: StaleAfter = None  # None: the desk's threshold; "never": no threshold
    note: Text | None = None
    acknowledge: Annotated[list[Acknowledgement], Field(max_length=20)] | None = None
    outcome: Value | None = None  # a forecast's realised figure, in the claim's unit

    @model_validator(mode="after")
    def _value_with_unit(self) -> Claim:
        if (self.value is None) != (self.unit is None):
            missing = "unit" if self.unit is None else "value"
            raise ValueError(f"a quantitative claim needs both value and unit; {missing} is missing")
        if self.value is None and (self.check or self.tolerance or self.given):
            raise ValueError("check, tolerance and given need a value and a unit to compare against")
        if self.given and not self.check:
            raise ValueError("given overrides parameters of a check; this claim has no check")
        if self.outcome is not None and not (self.resolves and self.value is not None):
            raise ValueError("outcome records what a forecast's figure turned out to be; it needs resolves, "
                             "value and unit")
        if self.outcome is not None and self.outcome.kind not in ("exact", "approx"):
            raise ValueError(f"outcome is the single figure that happened (in {self.unit}), not a "
                             f"{self.outcome.kind}: write e.g. outcome: 4.1")
        if self.resolves and self.resolves < self.as_of.start:
            raise ValueError(f"resolves {self.resolves.isoformat()} is before as_of {self.as_of} begins "
                             f"({self.as_of.start.isoformat()}): a forecast is judged after the period it "
                             "describes has begun; correct one of the two dates")
        return self

    @property
    def quantitative(self) -> bool:
        return self.value is not None


class Page(Strict):
    """A page's front-matter."""

    title: Text
    summary: Text | None = None
    tags: list[Tag] = []
    claims: list[Claim] = []
    hide: Any = None
    icon: Any = None
    status: Any = None
    template: Any = None
    search: Any = None
    description: Any = None


class Source(Strict):
    """One entry of data/sources.yaml."""

    title: Text
    publisher: Text | None = None
    author: Text | None = None
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    published: AsOf
    kind: Literal["article", "report", "blog", "newsletter", "podcast", "interview", "filing", "dataset",
                  "book", "forum", "other"]
    via: Id | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _someone(self) -> Source:
        if not self.publisher and not self.author:
            raise ValueError("a source needs a publisher or an author (or both)")
        return self


class SourceKey(Strict):
    """A source's key in data/sources.yaml follows the rule for ids."""

    id: Id


class Parameter(Claim):
    """A model parameter: a sourced claim whose value feeds the model's equations."""

    value: Value  # type: ignore[assignment]
    unit: UnitText  # type: ignore[assignment]

    @model_validator(mode="after")
    def _single_number(self) -> Parameter:
        if self.value.kind not in ("exact", "approx"):
            raise ValueError(f"a parameter needs a single number, not a {self.value.kind}")
        if self.check:
            raise ValueError("a parameter is an input; it cannot have a check")
        return self


class Quantity(Strict):
    """A derived quantity: an equation over parameters and other quantities, or a solved one."""

    id: Id
    text: Text
    unit: UnitText
    expr: Expression | None = None
    solve_for: Id | None = None
    where: Expression | None = None
    requires: Expression | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> Quantity:
        if bool(self.expr) == bool(self.solve_for or self.where):
            raise ValueError("define a quantity either by expr, or by solve_for and where")
        if self.solve_for and not self.where or self.where and not self.solve_for:
            raise ValueError("solve_for and where go together: solve_for: batch, where: margin_per_mtok = 0")
        return self


class ModelTable(Strict):
    """A table `claimdesk model` prints: quantities as one parameter varies."""

    title: Text
    vary: Id
    values: Annotated[list[Number], Field(min_length=1, max_length=50)]
    show: Annotated[list[Id], Field(min_length=1, max_length=12)]


class ModelFile(Strict):
    """A file under data/models/."""

    title: Text
    summary: Text | None = None
    parameters: Annotated[list[Parameter], Field(min_length=1)]
    quantities: list[Quantity] = []
    tables: list[ModelTable] = []


class DeskSettings(Strict):
    """data/desk.yaml."""

    stale_after: StaleAfter = DEFAULT_STALE_AFTER
    fail_on: list[Status] = ["mismatch", "conflict", "error"]
    store: Text = "data/claimdesk.duckdb"


# -- errors ----------------------------------------------------------------------------------

def _describe(value: Any) -> str:
    if isinstance(value, YamlNumber):
        return f"the number {value}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the text '{value[:60]}'"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _message(error: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        return f"unknown field '{excerpt(key, 60)}'{did_you_mean(key, _allowed_keys(model, loc))}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_describe(given)} is not allowed; use one of {expected.replace(chr(39), '')}"
    if kind in ("string_type",):
        return f"expected text, got {_describe(given)}"
    if kind in ("list_type",):
        return f"expected a list, got {_describe(given)}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type"):
        return f"expected a mapping of fields, got {_describe(given)}"
    if kind == "too_short":
        return "must not be empty" if not given else error["msg"]
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] == "url":
            return f"{_describe(given)} is not a web address; a URL starts with http:// or https:// and holds no spaces"
        message = error["msg"]  # only its first letter lowered: the pattern's \S must stay \S
        return f"{_describe(given)} is not a valid value here ({message[:1].lower()}{message[1:]})"
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return message.removeprefix("Value error, ")
    return error["msg"]


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed where `loc` points, for "did you mean"."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), annotation)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
    return list(getattr(current, "model_fields", {}))


def _real_loc(data: Any, raw: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's error location without its own steps (union members such as 'list[str]'),
    which are told from a contributor's keys (a key may be written '[0]') by walking the data."""
    loc: list[Any] = []
    node = data
    for part in raw:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and "[" in part:
            continue  # a step of pydantic's, not of the document
        else:
            node = None
        loc.append(part)
    return tuple(loc)


def problems_from(exc: ValidationError, model: type[BaseModel], loaded: Loaded, source: str,
                  prefix: tuple[str | int, ...] = (), data: Any = None) -> list[Problem]:
    """Located, plain-worded problems from a pydantic ValidationError."""
    problems = []
    for error in exc.errors():
        loc = _real_loc(data, error["loc"])
        path = prefix + loc
        problems.append(Problem(source, loaded.line_of(path), field_name(path), _message(error, model, loc)))
    return problems


def validate(model: type[BaseModel], data: Any, loaded: Loaded, source: str,
             prefix: tuple[str | int, ...] = ()) -> tuple[Any, list[Problem]]:
    """Validate `data` against `model`; (instance or None, problems)."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems_from(exc, model, loaded, source, prefix, data)
