"""A compiled model without sympy: quantities as claimdesk expression trees, kept in the store.

sympy expands every quantity into an expression over the parameters (and solves `solve_for`
quantities); that costs the import of sympy (~0.7 s) and milliseconds per quantity, on every run.
What the checker needs of the result is small: per quantity, its expansion as a tree it can
compile with numeric.py, the parameters that tree reads, its dimension and its conditions. This
module converts sympy's expansion into claimdesk's own tree (`tree_of`) — so a full run and an
incremental one compute with the same closures — and writes the compiled part of a model as a
JSON form the store keeps by model fingerprint (`form_of`), from which a later run rebuilds the
model without importing sympy (`quantities_from_form`).

A form is data claimdesk wrote, but it is read back as untrusted: `tree_from_json` accepts only the
five node kinds, the operators and functions of expr.py, and at most MAX_FORM_NODES nodes per
tree; a form that does not read back is ignored and the model is compiled again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .expr import BinOp, Call, Neg, Node, Num, Ref
from .problems import Problem
from .units import parse_unit

if TYPE_CHECKING:
    import sympy

    from .model import Condition, QuantityInfo

FORM_VERSION = 1
MAX_FORM_NODES = 20_000  # model.py refuses expansions past MAX_EXPANDED_NODES; this bounds reading
_OPERATORS = {"+", "-", "*", "/", "**"}
_FUNCTIONS = {"min", "max", "abs", "sqrt"}
_SHALLOW_FOLD = 16
MAX_TREE_DEPTH = 200  # an expansion nests at most this deep (each level is a Python call when computed)


class Unsupported(ValueError):
    """A sympy expression with a part claimdesk's tree has no node for (the model then keeps
    sympy's own compiled function for that quantity, and is not kept as a form)."""


def tree_of(expression: sympy.Expr) -> Node:
    """sympy's expression as claimdesk's tree, computing what lambdify's code computes: a product
    with negative powers is numerator / denominator, x ** (1/2) is sqrt(x), rationals are floats."""
    import sympy

    if expression.is_Symbol:
        return Ref(expression.name)
    if expression in (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        return _number(math.nan)
    if expression.is_Number or expression.is_NumberSymbol:
        return _number(float(expression))
    if expression.is_Add:
        return _fold("+", [tree_of(term) for term in expression.args])
    if expression.is_Mul:
        top, bottom = [], []
        for factor in expression.args:
            base, exponent = factor.as_base_exp()
            if exponent.is_Number and exponent < 0:
                bottom.append(tree_of(base ** -exponent))
            else:
                top.append(tree_of(factor))
        numerator = _fold("*", top) if top else _number(1.0)
        return BinOp("/", numerator, _fold("*", bottom)) if bottom else numerator
    if expression.is_Pow:
        base, exponent = expression.args
        if not exponent.is_Number:
            raise Unsupported(f"a power with exponent {exponent}")
        if exponent == sympy.S.Half:
            return Call("sqrt", (tree_of(base),))
        if exponent.is_negative:
            return BinOp("/", _number(1.0), tree_of(base ** -exponent))
        return BinOp("**", tree_of(base), _number(float(exponent)))
    functions = {sympy.Min: "min", sympy.Max: "max", sympy.Abs: "abs"}
    if expression.func in functions:
        return Call(functions[expression.func], tuple(tree_of(a) for a in expression.args))
    raise Unsupported(f"{expression.func.__name__}")


def _number(value: float) -> Num:
    return Num(value, repr(value))


def _fold(op: str, parts: list[Node]) -> Node:
    """a op b op c ..., left to right as Python computes it; long sums and products are split in
    halves instead, so that their trees stay shallow (each level is a call when computed)."""
    if len(parts) > _SHALLOW_FOLD:
        middle = len(parts) // 2
        return BinOp(op, _fold(op, parts[:middle]), _fold(op, parts[middle:]))
    tree = parts[0]
    for part in parts[1:]:
        tree = BinOp(op, tree, part)
    return tree


def tree_depth(tree: Node) -> int:
    """How deeply the tree nests (a leaf is 1)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, BinOp):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, Neg):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, Call):
            stack += [(a, depth + 1) for a in node.args]
    return deepest


def parameters_read(tree: Node) -> list[str]:
    """The names a tree reads, sorted (the argument order of its compiled function)."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            names.add(node.name)
        elif isinstance(node, BinOp):
            stack += [node.left, node.right]
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack += node.args
    return sorted(names)


# -- trees as JSON -------------------------------------------------------------------------------

def tree_json(tree: Node) -> Any:
    if isinstance(tree, Num):
        return tree.value if math.isfinite(tree.value) else None  # JSON has no NaN: null is NaN
    if isinstance(tree, Ref):
        return tree.name
    if isinstance(tree, Neg):
        return ["neg", tree_json(tree.operand)]
    if isinstance(tree, BinOp):
        return [tree.op, tree_json(tree.left), tree_json(tree.right)]
    return [tree.name, *(tree_json(a) for a in tree.args)]


class FormError(ValueError):
    """A stored form that does not read back as one claimdesk wrote."""


def tree_from_json(data: Any, budget: list[int] | None = None, depth: int = 0) -> Node:
    budget = budget if budget is not None else [MAX_FORM_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_TREE_DEPTH:
        raise FormError("tree too large")
    if data is None:
        return _number(math.nan)
    if isinstance(data, bool):
        raise FormError("a boolean is not a node")
    if isinstance(data, (int, float)):
        return _number(float(data))
    if isinstance(data, str):
        return Ref(data)
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise FormError("not a node")
    head, rest = data[0], data[1:]
    if head == "neg" and len(rest) == 1:
        return Neg(tree_from_json(rest[0], budget, depth + 1))
    if head in _OPERATORS and len(rest) == 2:
        return BinOp(head, tree_from_json(rest[0], budget, depth + 1), tree_from_json(rest[1], budget, depth + 1))
    if head in _FUNCTIONS and rest:
        return Call(head, tuple(tree_from_json(a, budget, depth + 1) for a in rest))
    raise FormError(f"unknown node {head!r}")


# -- a model's compiled part ---------------------------------------------------------------------

def form_of(quantities: dict[str, QuantityInfo], problems: list[Problem]) -> str | None:
    """The compiled quantities and the problems compiling found, as JSON text; None when a
    quantity or condition has no tree."""
    conditions: list[Condition] = []
    entries = {}
    for name, info in quantities.items():
        if info.tree is None or any(c.left_tree is None or c.right_tree is None for c in info.conditions):
            return None
        indexes = []
        for condition in info.conditions:
            if condition not in conditions:
                conditions.append(condition)
            indexes.append(conditions.index(condition))
        entries[name] = {"tree": tree_json(info.tree), "dims": list(info.dims), "definition": info.definition,
                         "uses": info.uses, "conditions": indexes}
    written = []
    for c in conditions:
        assert c.left_tree is not None and c.right_tree is not None  # checked above
        written.append({"text": c.text, "quantity": c.quantity, "op": c.op, "left": tree_json(c.left_tree),
                        "right": tree_json(c.right_tree), "left_text": c.left_text,
                        "unit": str(c.unit) if c.unit else None})
    return json.dumps({"version": FORM_VERSION, "quantities": entries, "conditions": written, "problems": [[p.path, p.line, p.field, p.message, p.severity] for p in problems]},
        separators=(",", ":"))


def quantities_from_form(text: str, definitions: dict[str, Any],
                         make_condition: Callable[..., Condition],
                         make_quantity: Callable[..., QuantityInfo]) -> tuple[dict[str, QuantityInfo], list[Problem]]:
    """The quantities and problems a form holds, for the model's current `definitions` (name ->
    (Quantity, path, line, where)). Raises FormError when the form does not read back or does
    not match them."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FORM_VERSION:
            raise FormError("another version")
        conditions = []
        for entry in data["conditions"]:
            if entry["op"] not in (">", ">=", "<", "<="):
                raise FormError("unknown comparison")
            conditions.append(make_condition(
                str(entry["text"]), str(entry["quantity"]), tree_from_json(entry["left"]), entry["op"],
                tree_from_json(entry["right"]), str(entry["left_text"]),
                parse_unit(entry["unit"]) if entry["unit"] else None))
        quantities = {}
        for name, entry in data["quantities"].items():
            if name not in definitions:
                raise FormError(f"no quantity {name}")
            quantity, path, line, _ = definitions[name]
            dims = tuple(int(d) for d in entry["dims"])
            if len(dims) != 3:
                raise FormError("dims")
            quantities[name] = make_quantity(
                quantity, parse_unit(quantity.unit), dims, tree_from_json(entry["tree"]), str(entry["definition"]),
                [conditions[i] for i in entry["conditions"]], path, line, [str(u) for u in entry["uses"]])
        problems = [Problem(str(path), int(line), str(field_), str(message), "warning" if severity == "warning"
                            else "error") for path, line, field_, message, severity in data["problems"]]
        return quantities, problems
    except FormError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise FormError(str(exc)) from None
