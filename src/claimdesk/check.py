"""The checker: recompute every quantitative claim and give each claim one status with reasons.

Statuses, most severe first: error > mismatch > conflict > stale > due > ok > unchecked. Every
finding that applies to a claim is kept; the most severe becomes its status and the others are
listed in `Result.also`.

Speed: a check expression is parsed and compiled (numeric.py: closures, no sympy) once per *shape* — the
expression with claim ids replaced by placeholders — so a thousand claims checked by
`a_1 + b_1`, `a_2 + b_2`, ... share one compiled function; each claim then costs a tuple of
floats and one call. Model quantities are expanded into parameter expressions by model.py, so
`given:` overrides are just different numbers for the same compiled function.

This module reads a `Desk` and produces a `CheckRun`; it writes nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import numeric
from .expr import ExprError, Node, Ref, dims_of, parse, refs, render
from .freshness import Threshold
from .kb import Desk, Located, Reference
from .model import Condition, Model, build_model, call
from .problems import did_you_mean
from .results import SEVERITY, CheckRun, Result
from .schema import Acknowledgement, Claim, given_reference, given_text_message
from .units import Dims, Unit, describe_dims, parse_unit
from .values import figure_text

STALE_LISTED = 100  # stale inputs traced by name per claim; beyond, "and more than 94 more"
MAX_CONFLICT_PAIRS = 500_000  # overlapping claims of one metric compared at most (about a second)
MAX_NAMED_CONFLICTS = 3  # per claim; more are counted, so a crowded metric cannot flood the results


@dataclass(frozen=True)
class _Shape:
    """A check with its claim references replaced by placeholders (`_c0`, `_c1`, ...), compiled.
    Checks that differ only in the claims they name share one shape."""

    function: tuple[Callable[..., float], list[str]]  # over parameter names and placeholders
    conditions: list[Condition]  # `requires:` of the quantities it uses
    parameters_used: frozenset[str]  # every parameter the value depends on (through quantities too)


@dataclass
class Compiled:
    """One check text, resolved against the desk: its shape and what fills the placeholders."""

    node: Node
    shape: _Shape
    claim_refs: dict[str, Ref]  # placeholder -> the claim (part) it stands for
    dims: tuple[int, int, int]
    # Derived once here, read for every claim in the run's loop.
    claims_named: frozenset[str] = field(init=False)
    dependencies: frozenset[str] = field(init=False)  # every parameter and claim the value depends on

    def __post_init__(self) -> None:
        self.claims_named = frozenset(ref.name for ref in self.claim_refs.values())
        self.dependencies = self.shape.parameters_used | self.claims_named


@dataclass(slots=True)
class _Plan:
    """A check text applied to claims stated in one unit: what recomputing each of them needs,
    worked out once."""

    compiled: Compiled
    unit: Unit
    function: Callable[..., float]
    arguments: list[float]  # at the model's own values, with the claims it names filled in
    position: dict[str, int]  # parameter name -> its index in `arguments`, for `given:`
    default: float | ExprError | None = None  # the figure without `given`, once computed
    given_slots: dict[tuple[str, ...], list[tuple[int | None, float]]] = field(default_factory=dict)


class Finding(NamedTuple):
    status: str
    reason: str


class Checker:
    """Checks a desk. Build once, then `run()`; `explain()` reuses the same compiled pieces."""

    def __init__(self, desk: Desk, today: dt.date | None = None, model: Model | None = None,
                 known_names: Callable[[], Iterable[str]] | None = None,
                 flawed_claims: Callable[[], Iterable[Reference]] | None = None):
        """`known_names`: every claim and parameter id of the whole desk, in desk order (parameters
        first), for "did you mean" when a check names something unknown; by default the ids of
        `desk`. `flawed_claims`: the claims with format errors of their own (as references: id
        and where), so that a check naming one says where the real problem is; by default
        `desk`'s. Both are given when `desk` holds only part of a desk (an incremental run, see job.py)."""
        self.desk = desk
        self.known_names = known_names
        self._known: list[str] | None = None
        self.flawed_claims = flawed_claims
        self._flawed: dict[str, Reference] | None = None
        self.today = today or dt.date.today()
        self.model = model or build_model(desk)
        self.claims: dict[str, Located] = {}
        for located in desk.parameters() + desk.claims():
            self.claims.setdefault(located.claim.id, located)
        self.parameter_ids = {p.claim.id for p in desk.parameters()}
        self._shapes: dict[str, _Shape] = {}
        self._by_text: dict[str, Compiled | ExprError] = {}
        self._plans: dict[tuple[str | None, str | None], _Plan | ExprError] = {}

    # -- compiling -------------------------------------------------------------------------
    def compile(self, claim: Claim) -> Compiled:
        """Resolve and compile a claim's check. Raises ExprError.

        The outcome depends only on the check's text (and the desk), so it is cached by text;
        only naming the claim itself differs from claim to claim."""
        assert claim.check is not None
        cached = self._by_text.get(claim.check)
        if cached is None:
            try:
                cached = self._compile_text(claim.check)
            except ExprError as exc:
                cached = exc
            self._by_text[claim.check] = cached
        if isinstance(cached, ExprError):
            raise cached
        if claim.id in cached.claims_named:
            raise ExprError(f"the check names its own claim '{claim.id}'")
        return cached

    def _compile_text(self, text: str) -> Compiled:
        node = parse(text)
        symbol_of_key: dict[str, str] = {}  # claim reference ('x', 'low(x)') -> placeholder
        claim_refs: dict[str, Ref] = {}
        for ref in refs(node):
            self._validate_ref(ref)
            is_model = ref.name in self.model.parameters or ref.name in self.model.quantities
            if not is_model and ref.key not in symbol_of_key:
                symbol_of_key[ref.key] = f"_c{len(claim_refs)}"
                claim_refs[symbol_of_key[ref.key]] = ref
        key = render(node, lambda ref: symbol_of_key.get(ref.key, ref.key))
        if key not in self._shapes:
            self._shapes[key] = self._compile_shape(node, symbol_of_key)
        # The shape is shared; the dimension depends on which claims fill its placeholders.
        dims = dims_of(node, self._dims)
        return Compiled(node, self._shapes[key], claim_refs, dims)

    def _compile_shape(self, node: Node, symbol_of_key: dict[str, str]) -> _Shape:
        """Compile a shape into a float function of its placeholders and the parameters it reads.

        The tree is compiled directly (numeric.py, microseconds); sympy only ever compiles the
        model's quantities, once each, and a check calls them like any other function."""
        conditions: list[Condition] = []
        for ref in refs(node):
            if ref.name in self.model.quantities:
                conditions += [c for c in self.model.quantities[ref.name].conditions if c not in conditions]
        names = list(dict.fromkeys(symbol_of_key.values()))  # placeholders first, then parameters
        position = {name: i for i, name in enumerate(names)}

        def index(name: str) -> int:
            if name not in position:
                position[name] = len(names)
                names.append(name)
            return position[name]

        def leaf(ref: Ref) -> numeric.Evaluate:
            if ref.key in symbol_of_key:
                return numeric.slot(index(symbol_of_key[ref.key]))
            if ref.name in self.model.parameters:
                return numeric.slot(index(ref.name))
            function, parameters = self.model.function(ref.name)
            return numeric.call_with(function, [index(p) for p in parameters])

        function = numeric.as_positional(numeric.compile_node(node, leaf))
        parameters_used = {name for name in names if name in self.model.parameters}
        for condition in conditions:
            parameters_used |= condition.names
        return _Shape((function, names), conditions, frozenset(parameters_used))

    def _validate_ref(self, ref: Ref) -> None:
        name = ref.name
        if name in self.model.parameters or name in self.model.quantities:
            if ref.part:
                raise ExprError(f"{ref.part}() reads a claim's range or bound; '{name}' is a model "
                                f"{'parameter' if name in self.model.parameters else 'quantity'}")
            return
        if name not in self.claims:
            if self._flawed is None:
                flawed = self.flawed_claims() if self.flawed_claims else \
                    (r for r in self.desk.references() if r.claim_id not in self.claims)
                self._flawed = {r.claim_id: r for r in flawed if r.claim_id}
            if name in self._flawed:
                where = self._flawed[name]
                raise ExprError(f"'{name}' is a claim with format errors ({where.path}:{where.id_line}); fix "
                                "those and this check can read it")
            if self._known is None:  # built once: a desk can name thousands of unknown names
                self._known = list(self.known_names() if self.known_names else self.claims) + self.model.names()
            known = self._known
            raise ExprError(f"unknown name '{name}'{did_you_mean(name, known)}; a check names model "
                            "parameters and quantities (claimdesk model) and claim ids")
        other = self.claims[name].claim
        if other.value is None:
            raise ExprError(f"'{name}' is a qualitative claim; it has no value to compute with")
        if ref.part is None and other.value.kind in ("range", "bound"):
            raise ExprError(f"'{name}' is a {other.value.kind} ({other.value.written}); write low({name}), "
                            f"high({name}) or mid({name})")
        if ref.part == "mid" and other.value.kind == "bound":
            raise ExprError(f"'{name}' is a one-sided bound ({other.value.written}); it has no mid()")
        if ref.part == "low" and other.value.kind == "bound" and other.value.low is None:
            raise ExprError(f"'{name}' ({other.value.written}) has no lower end")
        if ref.part == "high" and other.value.kind == "bound" and other.value.high is None:
            raise ExprError(f"'{name}' ({other.value.written}) has no upper end")

    def _dims(self, ref: Ref) -> tuple[int, int, int]:
        if ref.name in self.model.parameters or ref.name in self.model.quantities:
            return self.model.dims(ref.name)
        return parse_unit(self.claims[ref.name].claim.unit or "").dims

    def claim_value(self, ref: Ref) -> float:
        """A claim's stated value, in base units."""
        claim = self.claims[ref.name].claim
        assert claim.value is not None
        return parse_unit(claim.unit or "").to_base(claim.value.part(ref.part))

    # -- evaluating ------------------------------------------------------------------------
    def plan(self, claim: Claim) -> _Plan:
        """What recomputing this claim needs, shared by every claim with the same check text and
        unit. Raises ExprError (an unreadable check, an unknown name, a unit of another dimension)."""
        key = (claim.check, claim.unit)
        plan = self._plans.get(key)
        if isinstance(plan, _Plan) and claim.id not in plan.compiled.claims_named:
            return plan  # the common case, first; below the same in full, errors in order
        compiled = self.compile(claim)
        if plan is None:
            try:
                plan = self._make_plan(compiled, claim.unit or "")
            except ExprError as exc:
                plan = exc
            self._plans[key] = plan
        if isinstance(plan, ExprError):
            raise plan
        return plan

    def _make_plan(self, compiled: Compiled, unit_text: str) -> _Plan:
        unit = parse_unit(unit_text)
        if compiled.dims != unit.dims:
            raise ExprError(f"the check gives {describe_dims(compiled.dims)} but the claim is stated in "
                            f"{unit} ({unit.dimension})")
        function, names = compiled.shape.function
        values = dict(self.model.base_values())
        for symbol, ref in compiled.claim_refs.items():
            values[symbol] = self.claim_value(ref)
        return _Plan(compiled, unit, function, [values[name] for name in names],
                     {name: i for i, name in enumerate(names) if name in self.model.parameters})

    def recompute(self, claim: Claim) -> float:
        """The check's value in the claim's unit. Raises ExprError."""
        return self._recompute(claim, self.plan(claim))

    def _recompute(self, claim: Claim, plan: _Plan) -> float:
        if claim.given:
            return self._figure(plan, self.given_numbers(claim))
        if plan.default is None:  # every claim with this check and unit and no `given` has this figure
            try:
                plan.default = self._figure(plan, None)
            except ExprError as exc:
                plan.default = exc
        if isinstance(plan.default, ExprError):
            raise plan.default
        return plan.default

    def given_references(self, claim: Claim) -> dict[str, Ref]:
        """The `given:` entries that name a figure instead of stating a number: parameter -> Ref.
        A value that is neither a number nor a name is left out (given_numbers refuses it)."""
        out: dict[str, Ref] = {}
        for name, value in (claim.given or {}).items():
            if isinstance(value, str) and (reference := given_reference(value)):
                out[name] = Ref(reference[0], reference[1])
        return out

    def given_numbers(self, claim: Claim) -> dict[str, float]:
        """A claim's `given:` as numbers in each parameter's own unit, references read and converted.
        Raises ExprError: a name that is not a parameter, a reference to nothing, to the claim
        itself or to a figure of another dimension, text that is neither a number nor a name."""
        numbers: dict[str, float] = {}
        for name, value in (claim.given or {}).items():
            if not isinstance(value, str):
                numbers[name] = value
                continue
            info = self.model.parameters.get(name)
            if info is None:
                raise ExprError(f"given names '{name}', which is not a model parameter"
                                f"{did_you_mean(name, self.model.parameters)}")
            reference = given_reference(value)
            if reference is None:
                raise ExprError(given_text_message(name, value, str(info.unit)))
            ref = Ref(reference[0], reference[1])
            if ref.name == claim.id:
                raise ExprError(f"given {name}: {value} names this claim itself")
            if ref.name not in self.claims and ref.name not in self.model.parameters and \
                    ref.name not in self.model.quantities:
                known = [n for n in (list(self.known_names() if self.known_names else self.claims) +
                                     self.model.names()) if n != name]
                raise ExprError(f"given {name}: '{ref.name}' names no claim, model parameter or quantity"
                                f"{did_you_mean(ref.name, known)}; name the claim that states the figure")
            try:
                self._validate_ref(ref)
            except ExprError as exc:
                raise ExprError(f"given {name}: {exc}") from None
            dims, unit_text = self._dims(ref), self._unit_text(ref)
            if dims != info.unit.dims:
                raise ExprError(f"given {name}: {ref.key} is stated in {unit_text} ({describe_dims(dims)}) but "
                                f"{name} is in {info.unit} ({info.unit.dimension}); name a figure of the "
                                "parameter's dimension")
            numbers[name] = info.unit.from_base(self.reference_value(ref))
        return numbers

    def reference_value(self, ref: Ref) -> float:
        """What a name stands for, in base units: a claim's stated value (or its part), a
        parameter's value or a quantity computed at the model's own values. Raises ExprError."""
        if ref.name in self.model.parameters:
            return self.model.parameters[ref.name].base_value
        if ref.name in self.model.quantities:
            return self.model.quantities[ref.name].unit.to_base(self.model.evaluate(ref.name))
        return self.claim_value(ref)

    def _unit_text(self, ref: Ref) -> str:
        if ref.name in self.model.parameters or ref.name in self.model.quantities:
            return str(self.model.unit(ref.name))
        return self.claims[ref.name].claim.unit or ""

    def _given_slots(self, plan: _Plan, names: tuple[str, ...]) -> list[tuple[int | None, float]]:
        """Where each given parameter goes in the plan's arguments (None: the check does not read
        it) and its unit's factor. Raises ExprError for a name that is not a parameter."""
        slots = []
        for name in names:
            info = self.model.parameters.get(name)
            if info is None:
                raise ExprError(f"given names '{name}', which is not a model parameter"
                                f"{did_you_mean(name, self.model.parameters)}")
            slots.append((plan.position.get(name), info.unit.factor))
        return slots

    def _figure(self, plan: _Plan, given: dict[str, float] | None) -> float:
        arguments = plan.arguments
        if given:
            arguments = arguments.copy()
            names = tuple(given)
            slots = plan.given_slots.get(names)
            if slots is None:
                slots = plan.given_slots[names] = self._given_slots(plan, names)
            for (position, factor), number in zip(slots, given.values()):
                if position is not None:
                    arguments[position] = factor * number
        if plan.compiled.shape.conditions:
            values = self.model.base_values(given)
            for condition in plan.compiled.shape.conditions:
                condition.check(values)
        return call(plan.function, arguments) / plan.unit.factor

    # -- the run ---------------------------------------------------------------------------
    # The loop below is the hot path (100,000 claims): it keeps per-claim work to dictionary
    # look-ups, one call of the compiled function and one formatted reason.
    def run(self) -> CheckRun:
        # The run allocates a few objects per claim and frees none; the cyclic GC would walk
        # the whole desk again and again meanwhile (about a third of the time on 100,000 claims).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> CheckRun:
        # One pass gives every claim its Result from its own check; the passes over the whole desk
        # (cycles, freshness, conflicts) then add their rarer findings to the claims they concern.
        results: dict[str, Result] = {}
        dependencies: dict[str, frozenset[str]] = {}
        claim_dependencies: dict[str, frozenset[str]] = {}
        parameter_ids = self.parameter_ids
        for claim_id, located in self.claims.items():
            claim = located.claim
            value = claim.value
            recomputed = relative = None
            depends: frozenset[str] | None = None
            if claim.check:
                try:
                    plan = self.plan(claim)
                    depends = dependencies[claim_id] = plan.compiled.dependencies
                    claim_dependencies[claim_id] = plan.compiled.claims_named
                    if claim.given and (referenced := self.given_references(claim)):
                        named = frozenset(ref.name for ref in referenced.values())
                        depends = dependencies[claim_id] = depends | named
                        claim_dependencies[claim_id] = plan.compiled.claims_named | \
                            frozenset(n for n in named if n in self.claims)
                    recomputed = self._recompute(claim, plan)
                except ExprError as exc:
                    status, reason = "error", f"check '{claim.check}': {exc}"
                else:
                    status, reason, relative = self._compare(claim, recomputed)
            else:
                status = "unchecked"
                reason = "model parameter (an input)" if claim_id in parameter_ids else \
                    "no check" if value is not None else "qualitative claim"
            results[claim_id] = Result(
                claim_id, located.path, located.line, status, reason, (),
                f"{value.written} {claim.unit}" if value is not None else None, recomputed, claim.unit, relative,
                _sorted(depends), claim.check, "parameter" if claim_id in parameter_ids else "claim")
        findings: dict[str, list[Finding]] = defaultdict(list)
        self._cycles(findings, claim_dependencies)
        self._freshness(findings, dependencies)
        self._conflicts(findings)
        self._forecasts(findings, results)
        acknowledging = [claim_id for claim_id, located in self.claims.items() if located.claim.acknowledge]
        for claim_id in findings.keys() | set(acknowledging):
            _settle(results[claim_id], findings.get(claim_id, []), self.claims[claim_id].claim, self.today)
        run = CheckRun(self.today, model_fingerprint=self.model.fingerprint)
        run.results = list(results.values())
        return run

    def _compare(self, claim: Claim, figure: float) -> tuple[str, str, float | None]:
        """The verdict on a recomputed figure: (ok or mismatch, the reason, the relative error)."""
        value = claim.value
        assert value is not None
        unit = claim.unit
        error = None
        kind = value.kind
        if value.low and (kind == "exact" or kind == "approx"):
            error = (figure - value.low) / abs(value.low)
        band = _band(claim) if claim.tolerance or kind == "approx" else ""
        if value.admits(figure, claim.tolerance):
            return "ok", f"recomputed {figure_text(figure)} {unit} agrees with the stated {value.written} {unit}{band}", \
                error
        off = f" ({error:+.1%})" if error is not None else ""
        return "mismatch", f"stated {value.written} {unit} but recomputed {figure_text(figure)} {unit}{off}{band}" \
                           f"{_percent_hint(claim, figure)}", error

    def _cycles(self, findings: dict[str, list[Finding]], claim_dependencies: dict[str, frozenset[str]]) -> None:
        claim_graph = {c: deps for c, deps in claim_dependencies.items() if deps}
        for cycle in _find_cycles(claim_graph):
            text = " -> ".join(cycle + [cycle[0]])
            for claim_id in cycle:
                findings[claim_id].insert(0, Finding("error", f"checks refer to each other in a cycle: {text}"))

    def _freshness(self, findings: dict[str, list[Finding]], dependencies: dict[str, frozenset[str]]) -> None:
        today = self.today
        own: dict[str, str] = {}
        default = self.desk.settings.stale_after
        expiry: dict[tuple[Threshold, dt.date], dt.date] = {}
        default_expiry: dict[dt.date, dt.date] = {}  # most claims follow the desk's threshold
        for claim_id, located in self.claims.items():
            claim = located.claim
            as_of = claim.as_of
            threshold = claim.stale_after
            expires: dt.date | None = None
            if threshold is None and isinstance(default, Threshold):
                expires = default_expiry.get(as_of.end)
                if expires is None:
                    expires = default_expiry[as_of.end] = default.expires(as_of)
                threshold = default
            elif isinstance(threshold, Threshold):
                key = (threshold, as_of.end)
                expires = expiry.get(key)
                if expires is None:
                    expires = expiry[key] = threshold.expires(as_of)
            if expires is not None and today >= expires and not claim.resolves:  # a forecast does not age
                own[claim_id] = f"as_of {as_of} is older than {threshold} (stale since {expires.isoformat()})"
            elif claim.review_by and claim.review_by < today:
                own[claim_id] = f"review_by {claim.review_by.isoformat()} has passed"
            if claim_id in own:
                findings[claim_id].append(Finding("stale", own[claim_id]))
        if not own:
            return
        for claim_id, (stale_inputs, left_out) in _stale_reach(dependencies, own).items():
            if claim_id in stale_inputs:  # a claim in a cycle reaches itself
                stale_inputs = [d for d in stale_inputs if d != claim_id]
            if stale_inputs:
                shown = ", ".join(stale_inputs[:5])
                if left_out:
                    shown += f" and more than {STALE_LISTED - 6} more"
                elif len(stale_inputs) > 5:
                    shown += f" and {len(stale_inputs) - 5} more"
                findings[claim_id].append(Finding("stale", f"depends on stale {shown}"))

    def _forecasts(self, findings: dict[str, list[Finding]], results: dict[str, Result]) -> None:
        """A forecast resolves by its own `outcome:`, or by a claim of its metric, not itself a
        forecast, that states a single figure for exactly the forecast's period (the first in desk
        order). A resolved forecast gets a verdict, held or failed (by how much); an unresolved one
        whose `resolves` date has come is `due`."""
        realised: dict[tuple[str, dt.date, dt.date], list[Claim]] = defaultdict(list)
        forecasts = []
        for located in self.claims.values():
            claim = located.claim
            if claim.resolves:
                forecasts.append(claim)
            elif claim.metric and claim.value is not None and claim.value.kind in ("exact", "approx"):
                realised[(claim.metric, claim.as_of.start, claim.as_of.end)].append(claim)
        for claim in forecasts:
            outcome, resolved_by = self._outcome(claim, realised)
            result = results[claim.id]
            if outcome is None:
                if claim.resolves and claim.resolves <= self.today:
                    findings[claim.id].append(Finding("due", f"the forecast resolves on {claim.resolves.isoformat()}: "
                                                             "record what happened (outcome:, or a claim of its "
                                                             "metric for its period)"))
                continue
            assert claim.value is not None
            held = claim.value.admits(outcome, claim.tolerance)
            result.verdict, result.outcome, result.resolved_by = ("held" if held else "failed"), outcome, resolved_by
            source = "its outcome" if resolved_by == "outcome" else resolved_by
            shown = f"{figure_text(outcome)} {claim.unit} ({source})"
            if held:
                text = f"forecast held: {shown} is within the forecast {claim.value.written} {claim.unit}"
            else:
                text = f"forecast failed: {shown} against the forecast {claim.value.written} {claim.unit}" \
                       f"{_miss(claim, outcome)}"
            findings[claim.id].append(Finding("ok", text))

    def _outcome(self, claim: Claim, realised: Mapping[tuple[str, dt.date, dt.date], list[Claim]]
                 ) -> tuple[float | None, str | None]:
        """The realised figure of a forecast in its unit, and what recorded it."""
        if claim.value is None:
            return None, None
        if claim.outcome is not None:
            return claim.outcome.number, "outcome"
        if not claim.metric:
            return None, None
        unit = parse_unit(claim.unit or "")
        for other in realised.get((claim.metric, claim.as_of.start, claim.as_of.end), ()):
            other_unit = parse_unit(other.unit or "")
            if other_unit.dims == unit.dims:
                assert other.value is not None
                return other_unit.to_base(other.value.number) / unit.factor, other.id
        return None, None

    def _conflicts(self, findings: dict[str, list[Finding]]) -> None:
        """Claims of one metric whose as_of periods overlap must admit a common figure.

        Each claim's admitted interval (in base units) is computed once; within a metric the
        claims are swept in order of period start, so only overlapping pairs are compared."""
        # A claim stating its metric in another dimension is a format error (validate); it is not
        # also a conflict, as 5 tok and 5 USD bn cannot be compared.
        by_metric: dict[tuple[str, bool, tuple[int, int, int]], list[_Span]] = defaultdict(list)
        for located in self.claims.values():
            claim = located.claim
            if claim.metric and claim.value is not None:
                span = _span(claim)
                by_metric[(claim.metric, bool(claim.resolves), span.dims)].append(span)
        unnamed: dict[str, int] = defaultdict(int)  # conflicts beyond the ones named, per claim
        named: dict[str, int] = defaultdict(int)
        for spans in by_metric.values():
            if len(spans) < 2:
                continue
            spans.sort(key=lambda span: span.start)
            pairs = _overlapping_pairs(spans)
            if pairs > MAX_CONFLICT_PAIRS:  # comparing them all would take minutes: say so, on each claim
                metric = spans[0].claim.metric
                for span in spans:
                    findings[span.claim.id].append(Finding(
                        "error", f"not compared for conflicts: {len(spans)} claims of {metric} cover overlapping "
                                 f"periods, {pairs} pairs, more than the {MAX_CONFLICT_PAIRS} claimdesk compares; "
                                 "split the metric (one per series or source) or narrow the as_of periods"))
                continue
            for i, first in enumerate(spans):
                for second in spans[i + 1:]:
                    if second.start > first.end:
                        break  # sorted by start: no later claim overlaps `first` either
                    if not _agree(first, second):
                        for this, other in ((first.claim, second.claim), (second.claim, first.claim)):
                            if named[this.id] < MAX_NAMED_CONFLICTS:
                                named[this.id] += 1
                                self._conflict(findings, this, other)
                            else:
                                unnamed[this.id] += 1
        for claim_id, count in unnamed.items():
            metric = self.claims[claim_id].claim.metric
            findings[claim_id].append(Finding("conflict", f"and {count} more claims of {metric} disagree with it"))

    def _conflict(self, findings: dict[str, list[Finding]], this: Claim, other: Claim) -> None:
        assert this.value is not None and other.value is not None
        findings[this.id].append(Finding(
            "conflict", f"{other.id} ({self.claims[other.id].path}) states {other.metric} as "
                        f"{other.value.written} {other.unit} for {other.as_of}, this claim "
                        f"{this.value.written} {this.unit} for {this.as_of}"))


def _settle(result: Result, more: list[Finding], claim: Claim, today: dt.date) -> None:
    """Add the desk-wide findings to a claim's result: the most severe finding decides its status,
    the others go to `also`. A cycle's error comes before the check's own (it explains it).

    Findings the claim acknowledges are set aside into `acknowledged`; an acknowledgement that
    matches no finding is itself a (stale) finding, and an expired one no longer applies."""
    own = [Finding(result.status, result.reason)] if result.status != "unchecked" else []
    findings = more + own
    notes: list[str] = []
    if claim.acknowledge:
        findings, acknowledged, notes = _acknowledge(findings, claim.acknowledge, today)
        result.acknowledged = tuple(acknowledged)
    findings.sort(key=lambda f: SEVERITY[f.status])
    if findings:
        result.status, result.reason = findings[0]
    elif own:  # the check's own finding is acknowledged: the claim is settled, the finding still shows
        result.status, result.reason = "ok", f"every finding is acknowledged; the check: {own[0].reason}"
    result.also = tuple(f"{f.status}: {f.reason}" for f in findings[1:]) + tuple(notes)


def _acknowledge(findings: list[Finding], acknowledgements: list[Acknowledgement], today: dt.date
                 ) -> tuple[list[Finding], list[str], list[str]]:
    """(findings still standing, the acknowledged ones as text, notes on expired acknowledgements)."""
    kept: list[Finding] = []
    acknowledged: list[str] = []
    notes: list[str] = []
    used: set[int] = set()
    active = {i: a for i, a in enumerate(acknowledgements) if a.until is None or a.until >= today}
    for i, a in enumerate(acknowledgements):
        if i not in active:
            assert a.until is not None
            notes.append(f"expired: acknowledge[{i}] ({a.finding}) applied until {a.until.isoformat()} and no "
                         "longer does; review the finding, then remove the acknowledgement or extend `until`")
    for finding in findings:
        match = next((i for i, a in active.items() if a.finding == finding.status and
                      (a.with_ is None or finding.reason.startswith(f"{a.with_} ("))), None)
        if match is None:
            kept.append(finding)
            continue
        used.add(match)
        until = active[match].until
        acknowledged.append(f"{finding.status}: {finding.reason} (acknowledged: {active[match].reason}"
                            f"{f'; until {until.isoformat()}' if until else ''})")
    for i, a in active.items():
        if i not in used:
            what = f"{a.finding} with {a.with_}" if a.with_ else a.finding
            kept.append(Finding("stale", f"acknowledge[{i}] acknowledges a {what} that is no longer found; "
                                         "remove the acknowledgement"))
    return kept, acknowledged, notes


def _percent_hint(claim: Claim, figure: float) -> str:
    """A share written as a fraction in a percentage unit (0.74 %) is recomputed about 100 times
    larger: say how it is written."""
    value = claim.value
    assert value is not None
    if claim.unit not in ("%", "pp") or value.kind not in ("exact", "approx") or not value.low:
        return ""
    if not 80 <= figure / value.low <= 125:
        return ""
    number = value.low * 100
    digits = max(len(value.written.split(".")[1]) - 2, 0) if "." in value.written else 0
    rewritten = f"{number:.{digits}f}"
    written = f'"~{rewritten}"' if value.kind == "approx" else rewritten
    return f"; percentages are written as {rewritten}, not {value.low:g}: write value: {written}"


def _miss(claim: Claim, outcome: float) -> str:
    """How far a failed forecast missed: relative to its number, or to the nearest end of its range
    or bound."""
    value = claim.value
    assert value is not None
    if value.kind in ("exact", "approx"):
        edge, where = value.number, ""
    else:
        low, high = value.interval(None)
        edge, where = (low, " the low end") if outcome < low else (high, " the high end")
        if value.kind == "bound":
            where = " the bound"
    if not edge or math.isinf(edge):
        return ""
    return f", {abs(outcome - edge) / abs(edge):.1%} {'below' if outcome < edge else 'above'}{where}"


_SORTED: dict[frozenset[str], tuple[str, ...]] = {}


def _sorted(names: frozenset[str] | None) -> tuple[str, ...]:
    """Sorted dependency names; many claims share one set, so each set is sorted once."""
    if not names:
        return ()
    if names not in _SORTED:
        _SORTED[names] = tuple(sorted(names))
    return _SORTED[names]


_BANDS: dict[float, str] = {}


def _band(claim: Claim) -> str:
    assert claim.value is not None
    if claim.tolerance:
        return f", tolerance {claim.tolerance.written}"
    if claim.value.kind == "approx":
        band = claim.value.band
        if band not in _BANDS:  # a handful of distinct bands across a whole desk
            _BANDS[band] = f", ±{figure_text(band)} as written"
        return _BANDS[band]
    return ""


@dataclass(slots=True)
class _Span:
    """What conflict detection needs of a claim: its period and the figures it admits."""

    claim: Claim
    start: dt.date
    end: dt.date
    low: float  # in base units
    high: float
    strict: bool  # an open bound (> or <): touching ends do not agree
    dims: Dims  # claims of one metric in another dimension are not compared


def _span(claim: Claim) -> _Span:
    assert claim.value is not None
    low, high = claim.value.interval(claim.tolerance)
    unit = parse_unit(claim.unit or "")
    strict = claim.value.kind == "bound" and claim.value.op in (">", "<") and claim.tolerance is None
    return _Span(claim, claim.as_of.start, claim.as_of.end, low * unit.factor, high * unit.factor, strict, unit.dims)


def _overlapping_pairs(spans: list[_Span]) -> int:
    """How many pairs of spans (sorted by start) have overlapping periods: what the sweep compares."""
    starts = [span.start for span in spans]
    return sum(bisect.bisect_right(starts, span.end, lo=i + 1) - i - 1 for i, span in enumerate(spans))


def _agree(first: _Span, second: _Span) -> bool:
    """Do two values of one metric admit a common figure (in base units, with tolerances)?"""
    low, high = max(first.low, second.low), min(first.high, second.high)
    return low < high if first.strict or second.strict else low <= high


def _components(graph: Mapping[str, Collection[str]]) -> list[list[str]]:
    """Every strongly connected component of the graph, each sorted, a component after every one
    it reaches (Tarjan's algorithm, iterative so that long chains cannot overflow the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _find_cycles(graph: Mapping[str, Collection[str]]) -> Iterable[list[str]]:
    """The claims that refer to each other in a cycle: each strongly connected component of more
    than one claim, sorted. A check naming its own claim is refused earlier, in `compile`."""
    return [component for component in _components(graph) if len(component) > 1]


def _stale_reach(dependencies: Mapping[str, Collection[str]], stale: Collection[str]) -> dict[str, tuple[list[str], bool]]:
    """For every claim with dependencies: the stale names it reaches through them, the
    STALE_LISTED first in sorted order, and whether more were left out. Each strongly connected
    component is done once, after those it depends on, so a chain of 10,000 checks costs 10,000
    steps, not 50 million; keeping only the first names is exact for them, since the first
    names of a union are among the first names of its parts."""
    component_of: dict[str, int] = {}
    reach: list[tuple[list[str], bool]] = []
    out: dict[str, tuple[list[str], bool]] = {}
    for number, component in enumerate(_components(dependencies)):  # dependencies come first
        members = set(component)
        for member in component:
            component_of[member] = number
        names: set[str] = set()
        more = False
        for member in component:
            for name in dependencies.get(member, ()):
                if name in members:
                    continue
                if name in stale:
                    names.add(name)
                if name in component_of:
                    listed, left_out = reach[component_of[name]]
                    names.update(listed)
                    more = more or left_out
        if len(component) > 1 or any(m in dependencies.get(m, ()) for m in component):
            names.update(m for m in component if m in stale)  # a cycle reaches its own members
        ordered = sorted(names)
        reach.append((ordered[:STALE_LISTED], more or len(ordered) > STALE_LISTED))
        for member in component:
            if member in dependencies:
                out[member] = reach[-1]
    return out


def check_desk(desk: Desk, today: dt.date | None = None, model: Model | None = None) -> CheckRun:
    """Check every claim of the desk as of `today` (default: the real today); pass the desk's
    `Model` when it is built already."""
    return Checker(desk, today, model).run()

