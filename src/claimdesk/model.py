"""The desk's shared model(s): parameters and derived quantities, compiled once into sympy.

A model file (data/models/*.yaml) lists parameters — sourced claims with a single number — and
quantities: equations over parameters and other quantities (`expr:`), or values found by solving
an equation for a parameter (`solve_for:` + `where:`). Every quantity is expanded into an
expression over parameter symbols in base units (USD, tok, s), so the checker can substitute
numbers without knowing how the quantity was defined. Dimensions are checked here: a quantity
whose expression is currency/tokens cannot be declared in %.

Solving is bounded: only equations polynomial of degree <= 2 in the unknown (after clearing
denominators) are solved, so a model file cannot make sympy run away.

sympy is imported only when a model is compiled. Each expansion is also kept as claimdesk's own
tree (model_form.py), which is what checks compute with (numeric.py closures); the store keeps
those trees by model fingerprint, so a run whose model files did not change rebuilds the model
from them without sympy (`build_model(desk, forms=...)`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import numeric
from .expr import (
    BinOp,
    ExprError,
    Neg,
    Node,
    Num,
    Ref,
    dims_of,
    parse,
    parse_condition,
    parse_equation,
    refs,
    render,
    to_sympy,
)
from .kb import Desk
from .model_form import (
    MAX_TREE_DEPTH,
    FormError,
    Unsupported,
    form_of,
    parameters_read,
    quantities_from_form,
    tree_depth,
    tree_of,
)
from .problems import Problem, did_you_mean
from .schema import Parameter, Quantity
from .units import Dims, Unit, describe_dims, parse_unit

if TYPE_CHECKING:
    import sympy

MAX_DEGREE = 2
# Quantities are expanded over the parameters; a chain like q2 = q1 * (q1 + 1), q3 = q2 * (q2 + 1)
# doubles at every step, so each expansion is measured before the next one builds on it.
MAX_EXPANDED_NODES = 5000
SENSITIVITY_STEP = 1e-6  # relative step of the central difference giving a sensitivity
MAX_CHAIN = 60  # quantities defined through quantities, this many deep at most (compiling recurses)
MAX_SOLVE_EXPANSION = 16  # a `where:` equation's degree over all parameters, before solving, at most


@dataclass
class ParameterInfo:
    parameter: Parameter
    unit: Unit
    base_value: float  # in base units
    path: str
    line: int

    @property
    def symbol(self) -> sympy.Symbol:
        import sympy

        return sympy.Symbol(self.parameter.id)


Compiled = tuple[Callable[..., float], list[str]]  # a float function, and the parameter names it takes


@dataclass
class Condition:
    """A quantity's `requires:`, e.g. margin_per_mtok > 0, as expressions over parameters."""

    text: str
    quantity: str
    left_tree: Node | None  # the left side expanded over the parameters, base units (None: see `left`)
    op: str
    right_tree: Node | None
    left_text: str  # the left side as written, for the message
    unit: Unit | None  # unit to show the left side in, when it is a single quantity
    # sympy's expansions, for the site's calculator; None when the model was rebuilt from a form
    left: Any = field(default=None, compare=False, repr=False)
    right: Any = field(default=None, compare=False, repr=False)
    _compiled: tuple[Compiled, Compiled] | None = field(default=None, compare=False, repr=False)

    @property
    def names(self) -> set[str]:
        """The parameters the condition reads."""
        return {name for tree, expression in ((self.left_tree, self.left), (self.right_tree, self.right))
                for name in (parameters_read(tree) if tree is not None
                             else [s.name for s in expression.free_symbols])}

    def check(self, values: dict[str, float]) -> None:
        """Raise ExprError naming the condition and the offending value when it does not hold."""
        if self._compiled is None:
            self._compiled = (_compile(self.left_tree, self.left), _compile(self.right_tree, self.right))
        left, right = evaluate(self._compiled[0], values), evaluate(self._compiled[1], values)
        holds = {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[self.op]
        if not holds:
            shown = f"{self.unit.from_base(left):.4g} {self.unit}" if self.unit else f"{left:.4g}"
            raise ExprError(f"{self.quantity} is defined only while {self.text}, but "
                            f"{self.left_text} = {shown}")


@dataclass
class QuantityInfo:
    quantity: Quantity
    unit: Unit
    dims: Dims
    tree: Node | None  # the expansion over parameter names, base units; None when it has no tree (then `expr`)
    definition: str  # as written: "node_cost_per_hour / tokens_per_hour" or "batch where margin_per_mtok = 0"
    conditions: list[Condition]
    path: str
    line: int
    uses: list[str] = field(default_factory=list)  # names the definition reads directly
    expr: Any = None  # sympy's expansion (None when the model was rebuilt from a form): the model's views use it

    @cached_property
    def names(self) -> list[str]:
        """The parameters the expansion reads, sorted."""
        if self.tree is not None:
            return parameters_read(self.tree)
        return sorted(s.name for s in self.expr.free_symbols)


@dataclass
class Model:
    parameters: dict[str, ParameterInfo]
    quantities: dict[str, QuantityInfo]
    problems: list[Problem]
    fingerprint: str
    tables: list[Any] = field(default_factory=list)
    form: str | None = None  # the compiled quantities as the store keeps them (model_form.py)
    _functions: dict[str, Compiled] = field(default_factory=dict)
    _base: dict[str, float] | None = None

    def names(self) -> list[str]:
        return list(self.parameters) + list(self.quantities)

    def dims(self, name: str) -> Dims:
        if name in self.parameters:
            return self.parameters[name].unit.dims
        return self.quantities[name].dims

    def unit(self, name: str) -> Unit:
        if name in self.parameters:
            return self.parameters[name].unit
        return self.quantities[name].unit

    def base_values(self, overrides: dict[str, float] | None = None) -> dict[str, float]:
        """Parameter values in base units, with overrides given in each parameter's own unit."""
        if self._base is None:
            self._base = {name: info.base_value for name, info in self.parameters.items()}
        values = dict(self._base)
        for name, value in (overrides or {}).items():
            values[name] = self.parameters[name].unit.factor * value
        return values

    def evaluate(self, name: str, overrides: dict[str, float] | None = None) -> float:
        """A parameter or quantity, in its own unit. Raises ExprError when it cannot be computed."""
        if name not in self.parameters and name not in self.quantities:
            raise ExprError(f"'{name}' is not a parameter or a quantity that computes (see the model's problems)")
        for given in overrides or {}:
            if given not in self.parameters:
                raise ExprError(f"'{given}' is not a parameter; only parameters can be given")
        values = self.base_values(overrides)
        if name in self.parameters:
            return self.parameters[name].unit.from_base(values[name])
        info = self.quantities[name]
        for condition in info.conditions:
            condition.check(values)
        return info.unit.from_base(evaluate(self.function(name), values))

    def function(self, name: str) -> Compiled:
        """Quantity `name` compiled once into a float function of the parameters it reads."""
        if name not in self._functions:
            info = self.quantities[name]
            self._functions[name] = _compile(info.tree, info.expr)
        return self._functions[name]


def _compile(tree: Node | None, expression: Any) -> Compiled:
    return compile_tree(tree) if tree is not None else compile_expression(expression)


def compile_tree(tree: Node) -> Compiled:
    """A float function of the parameters the tree reads (sorted), and their names: numeric.py's
    closures, so checks and the model compute the same way whether sympy was imported or not."""
    names = parameters_read(tree)
    position = {name: i for i, name in enumerate(names)}
    function = numeric.compile_node(tree, lambda ref: numeric.slot(position[ref.name]))
    return numeric.as_positional(function), names


def compile_expression(expression: sympy.Expr) -> Compiled:
    """A plain-float function of the expression's free symbols, and their names in order (for an
    expansion claimdesk's tree has no node for).

    lambdify is given a sympy object built by expr.to_sympy, never text, and dummify=True keeps
    symbol names out of the generated code.
    """
    import sympy

    symbols = sorted(expression.free_symbols, key=lambda s: s.name)
    function = sympy.lambdify(symbols, expression, modules="math", dummify=True)
    return function, [s.name for s in symbols]


def evaluate(compiled: tuple[Callable[..., float], list[str]], values: dict[str, float]) -> float:
    function, names = compiled
    return call(function, [values[n] for n in names])


def call(function: Callable[..., float], arguments: list[float]) -> float:
    """A compiled function's value as a finite float. Raises ExprError saying why there is none."""
    try:
        result = float(function(*arguments))
    except ZeroDivisionError:
        raise ExprError("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise ExprError(f"cannot be computed ({exc})") from None
    except TypeError:  # sympy's zoo / complex results
        raise ExprError("has no real value (a division by zero or the root of a negative number)") from None
    if not math.isfinite(result):
        raise ExprError("the result is not a finite number (a division by zero?)")
    return result


def model_fingerprint(desk: Desk) -> str:
    """Changes with any model file's content: the key of the model's compiled form."""
    digest = hashlib.blake2b(digest_size=8)
    for record in desk.models:
        digest.update(record.content_hash.encode())
    return digest.hexdigest()


def build_model(desk: Desk, form: str | None = None) -> Model:
    """Compile every model file of the desk into one namespace of parameters and quantities.

    `form`: the compiled form (model_form.py) a previous build of the same model files left
    (`Model.form`); the quantities are then read from it and sympy is not imported. A form that
    does not read back is ignored."""
    problems: list[Problem] = []
    parameters: dict[str, ParameterInfo] = {}
    definitions: dict[str, tuple[Quantity, str, int, str]] = {}
    tables: list[Any] = []
    for record in desk.models:
        if record.model is None:
            continue
        tables += [(record, i, t) for i, t in enumerate(record.model.tables)]
        for parameter, line, _ in record.parameter_lines():
            unit = parse_unit(parameter.unit)
            parameters[parameter.id] = ParameterInfo(parameter, unit, unit.to_base(parameter.value.number),
                                                     record.path, line)
        for quantity, line, where in record.quantity_lines():
            definitions[quantity.id] = (quantity, record.path, line, where)
    quantities: dict[str, QuantityInfo] | None = None
    if form is not None:
        try:
            quantities, problems = quantities_from_form(form, definitions, Condition, QuantityInfo)
        except FormError:
            quantities, problems = None, []
    if quantities is None:
        compiler = _Compiler(parameters, definitions, problems)
        for name in _dependencies_first(definitions):  # so compiling never recurses more than a step
            compiler.compile(name)
        quantities = {}
        for name in definitions:
            info = compiler.compile(name)
            if info is not None:
                quantities[name] = info
        form = form_of(quantities, problems)
    problems = list(problems)
    for record, i, table in tables:
        line = record.loaded.line_of(("tables", i))
        if table.vary not in parameters:
            problems.append(Problem(record.path, line, f"tables[{i}].vary", f"'{table.vary}' is not a parameter"
                                                                             f"{did_you_mean(table.vary, parameters)}"))
        known = list(parameters) + list(definitions)
        for name in table.show:
            if name not in known:
                problems.append(Problem(record.path, line, f"tables[{i}].show",
                                        f"'{name}' is not a parameter or quantity{did_you_mean(name, known)}"))
    return Model(parameters, quantities, problems, model_fingerprint(desk), [(r.path, t) for r, _, t in tables],
                 form=form)


def _dependencies_first(definitions: dict[str, tuple[Quantity, str, int, str]]) -> list[str]:
    """The quantities in an order where each comes after the quantities it names (an iterative
    depth-first walk: a chain of a thousand quantities must not overflow Python's stack). Names
    in a cycle or in text that does not parse are left where they fall; compiling reports them."""
    def named(name: str) -> list[str]:
        quantity = definitions[name][0]
        texts = [quantity.expr] if quantity.expr else [*(quantity.where or "").split("=", 1)]
        found = []
        for text in texts + ([quantity.requires] if quantity.requires else []):
            try:
                if text is quantity.requires:
                    left, _, right = parse_condition(text)
                    nodes = [left, right]
                else:
                    nodes = [parse(text)]
            except ExprError:
                continue
            found += [r.name for node in nodes for r in refs(node) if r.name in definitions]
        return found

    order: list[str] = []
    seen: set[str] = set()
    tainted: set[str] = set()  # in a cycle, or naming one: compiled in file order, which words the cycle's error
    for start in definitions:
        if start in seen:
            continue
        seen.add(start)
        work = [(start, named(start))]
        on_path = {start}
        while work:
            name, children = work[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                work.pop()
                on_path.discard(name)
                if any(c in on_path or c in tainted for c in children):
                    tainted.add(name)
                else:
                    order.append(name)
            else:
                seen.add(child)
                on_path.add(child)
                work.append((child, named(child)))
    return order


class _Compiler:
    """Expands quantities into parameter expressions, depth first, with cycle detection."""

    def __init__(self, parameters: dict[str, ParameterInfo],
                 definitions: dict[str, tuple[Quantity, str, int, str]], problems: list[Problem]):
        self.parameters = parameters
        self.definitions = definitions
        self.problems = problems
        self.done: dict[str, QuantityInfo | None] = {}
        self.active: list[str] = []
        self.estimates: dict[str, tuple[float, float]] = {}  # quantity -> (parts, degree) expanded, at most
        self.last_estimate = (1.0, 1.0)

    def fail(self, name: str, part: str, message: str) -> None:
        _, path, line, where = self.definitions[name]
        self.problems.append(Problem(path, line, f"{where}.{part}", message))
        self.done[name] = None

    def compile(self, name: str) -> QuantityInfo | None:
        if name in self.done:
            return self.done[name]
        if name in self.active:
            cycle = " -> ".join(self.active[self.active.index(name):] + [name])
            self.fail(name, "expr", f"quantities refer to each other in a cycle: {cycle}")
            return None
        if len(self.active) >= MAX_CHAIN:
            self.fail(name, "expr", f"quantities defined through other quantities more than {MAX_CHAIN} deep "
                                    f"({self.active[0]} -> ... -> {name}); define some of them from parameters")
            return None
        self.active.append(name)
        try:
            info = self._compile(name)
        except ExprError as exc:
            quantity = self.definitions[name][0]
            self.fail(name, "expr" if quantity.expr else "where", str(exc))
            info = None
        finally:
            self.active.pop()
        if name not in self.done:
            self.done[name] = info
        return self.done[name]

    def resolve(self, ref: Ref) -> tuple[sympy.Expr, Dims, list[Condition]]:
        if ref.part is not None:
            raise ExprError(f"{ref.part}() reads a claim's range; model equations use parameters and quantities")
        if ref.name in self.parameters:
            info = self.parameters[ref.name]
            return info.symbol, info.unit.dims, []
        if ref.name in self.definitions:
            quantity = self.compile(ref.name)
            if quantity is None:
                raise ExprError(f"'{ref.name}' cannot be computed (see its own error)")
            return quantity.expr, quantity.dims, quantity.conditions
        known = list(self.parameters) + list(self.definitions)
        raise ExprError(f"unknown name '{ref.name}'{did_you_mean(ref.name, known)}; a model equation uses "
                        "the model's parameters and quantities")

    def build(self, node: Node) -> tuple[sympy.Expr, Dims, list[Condition]]:
        conditions: list[Condition] = []
        resolved: dict[str, tuple[sympy.Expr, Dims]] = {}
        for ref in refs(node):
            expression, dims, inherited = self.resolve(ref)
            resolved[ref.key] = (expression, dims)
            conditions += [c for c in inherited if c not in conditions]
        dims = dims_of(node, lambda r: resolved[r.key][1])
        # Measured on claimdesk's own tree, before sympy builds anything: quantities that use each
        # other twice per step double at every step, and sympy would spend minutes building them.
        size, degree = _estimate(node, self.estimate)
        if size > MAX_EXPANDED_NODES:
            raise ExprError(f"expanded over the parameters, '{render(node)[:80]}' has more than {MAX_EXPANDED_NODES} "
                            f"parts (about {size:.3g}); quantities that nest each other this deeply are refused")
        self.last_estimate = (size, degree)
        return to_sympy(node, lambda r: resolved[r.key][0]), dims, conditions

    def estimate(self, ref: Ref) -> tuple[float, float]:
        """(parts, polynomial degree) of a name expanded over the parameters, at most."""
        return self.estimates.get(ref.name, (1.0, 1.0))

    def _compile(self, name: str) -> QuantityInfo | None:
        quantity, path, line, where = self.definitions[name]
        unit = parse_unit(quantity.unit)
        if quantity.expr:
            node = parse(quantity.expr)
            expression, dims, conditions = self.build(node)
            self.estimates[name] = self.last_estimate
            definition, uses = quantity.expr, [r.name for r in refs(node)]
        else:
            assert quantity.solve_for and quantity.where
            expression, dims, conditions, uses = self.solve(quantity)
            definition = f"{quantity.solve_for} where {quantity.where}"
        if too_large(expression):
            raise ExprError(f"expanded over the parameters, {name} has more than {MAX_EXPANDED_NODES} parts; "
                            "quantities that nest each other this deeply are refused")
        if dims != unit.dims:
            self.fail(name, "unit", f"{name} is {describe_dims(dims)} by its definition but declared in "
                                    f"{unit} ({unit.dimension})")
            return None
        for requirement in [quantity.requires] if quantity.requires else []:
            left_node, op, right_node = parse_condition(requirement)
            left, left_dims, inherited = self.build(left_node)
            right, right_dims, more = self.build(right_node)
            if left_dims != right_dims and not _is_zero(right_node) and not _is_zero(left_node):
                raise ExprError(f"requires compares {describe_dims(left_dims)} with {describe_dims(right_dims)}")
            shown_unit = None
            if len(refs(left_node)) == 1 and refs(left_node)[0].name in self.definitions:
                shown_unit = parse_unit(self.definitions[refs(left_node)[0].name][0].unit)
            conditions = conditions + [c for c in inherited + more if c not in conditions]
            conditions.append(Condition(requirement, name, _tree_or_none(left), op, _tree_or_none(right),
                                        render(left_node), shown_unit, left, right))
        return QuantityInfo(quantity, unit, dims, _tree_or_none(expression), definition, conditions, path, line,
                            uses, expression)

    def solve(self, quantity: Quantity) -> tuple[sympy.Expr, Dims, list[Condition], list[str]]:
        import sympy

        unknown = quantity.solve_for or ""
        if unknown not in self.parameters:
            raise ExprError(f"solve_for must name a parameter; '{unknown}' is not one"
                            f"{did_you_mean(unknown, self.parameters)}")
        left_node, right_node = parse_equation(quantity.where or "")
        left, left_dims, conditions = self.build(left_node)
        left_size, left_degree = self.last_estimate
        right, right_dims, more = self.build(right_node)
        right_size, right_degree = self.last_estimate
        # Clearing denominators multiplies terms together: bound the degree before sympy expands.
        if left_degree + right_degree > MAX_SOLVE_EXPANSION:
            raise ExprError(f"'{quantity.where}' reaches degree {left_degree + right_degree:g} once expanded over "
                            f"the parameters; claimdesk expands equations up to degree {MAX_SOLVE_EXPANSION} "
                            f"and solves those of degree <= {MAX_DEGREE} in the unknown")
        self.estimates[quantity.id] = (left_size + right_size, 1.0)
        if left_dims != right_dims and not _is_zero(right_node) and not _is_zero(left_node):
            raise ExprError(f"the equation sets {describe_dims(left_dims)} equal to {describe_dims(right_dims)}")
        symbol = self.parameters[unknown].symbol
        numerator, denominator = sympy.fraction(sympy.together(left - right))
        if symbol not in numerator.free_symbols:
            raise ExprError(f"{unknown} does not appear in '{quantity.where}', so it cannot be solved for")
        if not numerator.is_polynomial(symbol) or sympy.degree(numerator, symbol) > MAX_DEGREE:
            raise ExprError(f"'{quantity.where}' is not a polynomial of degree <= {MAX_DEGREE} in {unknown} "
                            "once denominators are cleared; claimdesk solves only those")
        # The roots of a polynomial of degree <= 2 come in closed form; sympy.solve would find the
        # same ones but simplifies each, which costs a fifth of a second of imports per process.
        solutions = [s for s in sympy.roots(sympy.Poly(numerator, symbol))
                     if not _vanishes(denominator.subs(symbol, s))]
        if len(solutions) != 1:
            raise ExprError(f"'{quantity.where}' has {len(solutions)} solutions for {unknown}; it needs exactly one")
        uses = [r.name for r in refs(left_node) + refs(right_node)]
        return solutions[0], self.parameters[unknown].unit.dims, conditions + more, uses


def _tree_or_none(expression: sympy.Expr) -> Node | None:
    """sympy's expansion as claimdesk's tree; None when the tree has no node for a part of it or
    would nest deeper than numeric.py's closures may (then sympy's own compiled code is used)."""
    try:
        tree = tree_of(expression)
    except Unsupported:
        return None
    return tree if tree_depth(tree) <= MAX_TREE_DEPTH else None


def _estimate(node: Node, of_name: Callable[[Ref], tuple[float, float]]) -> tuple[float, float]:
    """(parts, degree) of `node` once every name is expanded, at most: what sympy would build. A
    product's degree is the sum of its factors' (a quotient's too: denominators get cleared), a
    power's its base's times the exponent; sums, min and max take the largest."""
    if isinstance(node, Num):
        return 1.0, 0.0
    if isinstance(node, Ref):
        return of_name(node)
    if isinstance(node, Neg):
        size, degree = _estimate(node.operand, of_name)
        return size + 1, degree
    if isinstance(node, BinOp):
        left_size, left_degree = _estimate(node.left, of_name)
        if node.op == "**":
            assert isinstance(node.right, Num)
            return left_size + 2, left_degree * max(1.0, math.ceil(abs(node.right.value)))
        right_size, right_degree = _estimate(node.right, of_name)
        degree = max(left_degree, right_degree) if node.op in "+-" else left_degree + right_degree
        return left_size + right_size + 1, degree
    parts = [_estimate(a, of_name) for a in node.args]
    return sum(p[0] for p in parts) + 1, max(p[1] for p in parts)


def too_large(expression: sympy.Expr, limit: int = MAX_EXPANDED_NODES) -> bool:
    """Does the expression tree have more than `limit` nodes? Stops counting at the limit."""
    import sympy

    for count, _ in enumerate(sympy.preorder_traversal(expression)):
        if count >= limit:
            return True
    return False


def _vanishes(expression: sympy.Expr) -> bool:
    """Is the expression identically zero? Exact for rational functions (cancel puts them in a
    canonical form); anything with radicals is left to sympy.simplify."""
    import sympy

    reduced = sympy.cancel(sympy.together(expression))
    if reduced == 0:
        return True
    if reduced.is_rational_function():
        return False
    return bool(sympy.simplify(reduced) == 0)


def _is_zero(node: Node) -> bool:
    return isinstance(node, Num) and node.value == 0


def sensitivity(model: Model, quantity: str, parameter: str) -> float | None:
    """d log q / d log p at the model's values: the % change in q for a 1% change in p."""
    info = model.quantities[quantity]
    if parameter not in info.names:
        return 0.0
    # A central difference of the compiled quantity, not sympy.diff: the symbolic derivative of
    # quantities built from quantities grows with every level (and then has to be compiled), so
    # it took minutes where this takes two evaluations. Smooth quantities agree to ~1e-9.
    values = model.base_values()
    base = values[parameter]
    compiled = model.function(quantity)
    try:
        at = evaluate(compiled, values)
        up = evaluate(compiled, {**values, parameter: base * (1 + SENSITIVITY_STEP)})
        down = evaluate(compiled, {**values, parameter: base * (1 - SENSITIVITY_STEP)})
    except ExprError:
        return None
    if at == 0 or base == 0:
        return None
    elasticity = (up - down) / (2 * SENSITIVITY_STEP * at)
    return elasticity if math.isfinite(elasticity) else None

