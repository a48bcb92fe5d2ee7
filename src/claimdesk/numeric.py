"""claimdesk's own expression tree -> a plain-float Python function, in microseconds.

A check is arithmetic over claims' figures and the model's parameters and quantities. Compiling
it through sympy (build the expression, expand the quantities, print and lambdify it) costs
milliseconds per distinct check, which dominates a desk whose checks are as varied as a real
desk's. This module turns the tree `expr.parse` built (whitelisted: numbers, names, + - * / **,
min, max, abs, sqrt) straight into nested Python closures. Nothing is printed, parsed, `eval`'d or
`exec`'d: each node becomes a small function over the argument list. A model quantity is one call
of its compiled function (sympy compiles each quantity once per model, not once per check).

The arithmetic is the one sympy's generated code does: IEEE floats, `**` with the exponent as
written, math.sqrt. Errors surface as Python's own exceptions (ZeroDivisionError, ValueError,
OverflowError, a complex result), which `model.call` turns into a claim's error.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

from .expr import BinOp, Call, Neg, Node, Num, Ref

Arguments = Sequence[float]
Evaluate = Callable[[Arguments], float]

_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
}


def compile_node(node: Node, leaf: Callable[[Ref], Evaluate]) -> Evaluate:
    """A function of the argument list that computes `node`; `leaf` says how each name is read."""
    if isinstance(node, Num):
        value = node.value
        return lambda arguments: value
    if isinstance(node, Ref):
        return leaf(node)
    if isinstance(node, Neg):
        operand = compile_node(node.operand, leaf)
        return lambda arguments: -operand(arguments)
    if isinstance(node, BinOp):
        left, right = compile_node(node.left, leaf), compile_node(node.right, leaf)
        op = _OPS[node.op]
        if isinstance(node.right, Num):  # the common `x / 12`, `x ** 0.5`: one call fewer
            constant = node.right.value
            return lambda arguments: op(left(arguments), constant)
        return lambda arguments: op(left(arguments), right(arguments))
    assert isinstance(node, Call)
    args = [compile_node(a, leaf) for a in node.args]
    if node.name == "sqrt":
        (only,) = args
        return lambda arguments: math.sqrt(only(arguments))
    if node.name == "abs":
        (only,) = args
        return lambda arguments: abs(only(arguments))
    pick = min if node.name == "min" else max
    return lambda arguments: pick([a(arguments) for a in args])


def slot(index: int) -> Evaluate:
    """Read argument `index`."""
    return lambda arguments: arguments[index]


def call_with(function: Callable[..., float], indexes: Sequence[int]) -> Evaluate:
    """Call a compiled function (a model quantity) with the arguments at `indexes`."""
    positions = tuple(indexes)
    return lambda arguments: function(*[arguments[i] for i in positions])


def as_positional(evaluate: Evaluate) -> Callable[..., float]:
    """The same function taking its arguments one by one, as lambdify's functions do."""
    return lambda *arguments: evaluate(arguments)
