"""Safe expressions: contributor text -> a small whitelisted tree -> sympy, dimensions, names.

`check:`, a model's `expr:`, `where:` and `requires:` are written by contributors, so their text is
never given to eval, exec, sympify, parse_expr or lambdify. It is parsed by Python's `ast` module
(which only parses) and every node is checked against a whitelist: numbers, names, + - * / **,
unary minus, parentheses and a few named functions. Everything else — attribute access, calls of
anything else, subscripts, strings, lambdas, comprehensions, f-strings, `^` — is refused with a
message. The work any text can cause is bounded by its length, node count, nesting depth and the
size of exponents, which must be plain numbers (so `9**9**9` is refused, not computed).

The tree built here is this module's own (`Num`, `Ref`, `BinOp`, `Neg`, `Call`); sympy objects are
made from it by `to_sympy`, with symbols supplied by the caller.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from .units import DIMENSIONLESS, Dims, describe_dims

if TYPE_CHECKING:
    import sympy

MAX_LENGTH = 500
MAX_NODES = 100
MAX_DEPTH = 100  # a chain a + b + c + ... nests one level per term
MAX_EXPONENT = 64
MAX_DIGITS = 30

FUNCTIONS = {"min", "max", "abs", "sqrt", "low", "high", "mid"}
PARTS = {"low", "high", "mid"}  # functions that read a part of a claim's stated value


class ExprError(ValueError):
    """Text that is not a valid expression, or an expression that cannot be computed."""


@dataclass(frozen=True)
class Num:
    value: float
    text: str


@dataclass(frozen=True)
class Ref:
    name: str
    part: str | None = None  # None, or 'low' / 'high' / 'mid' of a range or bound claim

    @property
    def key(self) -> str:
        return self.name if self.part is None else f"{self.part}({self.name})"


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / **
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class Call:
    name: str  # min, max, abs, sqrt
    args: tuple[Node, ...]


Node = Num | Ref | BinOp | Neg | Call

_BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_OPS = {ast.BitXor: "'^' is not a power here; write ** (x ** 2)", ast.FloorDiv: "'//' is not allowed; write /",
                ast.Mod: "'%' is not an operator here; a percentage claim already enters as a fraction",
                ast.MatMult: "'@' is not allowed", ast.LShift: "'<<' is not allowed", ast.RShift: "'>>' is not allowed",
                ast.BitOr: "'|' is not allowed", ast.BitAnd: "'&' is not allowed"}
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}


def _describe_node(node: ast.AST) -> str:
    names = {ast.Attribute: "attribute access (a.b)", ast.Subscript: "subscripts (a[b])", ast.Lambda: "lambdas",
             ast.JoinedStr: "f-strings", ast.ListComp: "comprehensions", ast.GeneratorExp: "generators",
             ast.DictComp: "comprehensions", ast.SetComp: "comprehensions", ast.List: "lists", ast.Tuple: "tuples",
             ast.Dict: "mappings", ast.Set: "sets", ast.IfExp: "if-expressions", ast.BoolOp: "and/or",
             ast.Compare: "comparisons", ast.NamedExpr: "assignments (:=)", ast.Starred: "* unpacking",
             ast.Await: "await", ast.Yield: "yield"}
    return names.get(type(node), type(node).__name__)


class _Converter:
    def __init__(self, text: str):
        self.text = text
        self.ascii = text.isascii()
        self.nodes = 0

    def convert(self, node: ast.AST, depth: int = 0) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} parts; split it into claims")
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return Ref(node.id)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Neg(self.convert(node.operand, depth + 1))
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand, depth + 1)
            raise ExprError("only unary minus and plus are allowed ('not' and '~' are not)")
        if isinstance(node, ast.BinOp):
            if type(node.op) in _REFUSED_OPS:
                raise ExprError(_REFUSED_OPS[type(node.op)])
            op = _BINOPS[type(node.op)]
            left = self.convert(node.left, depth + 1)
            right = self.convert(node.right, depth + 1)
            if op == "**":
                right = self.exponent(right)
                total = _power_reach(left) * max(1.0, abs(right.value))
                if total > MAX_EXPONENT:
                    raise ExprError(f"powers of powers raise to {total:g} in all; at most {MAX_EXPONENT} "
                                    "(write the power once: x ** 8, not (x ** 2) ** 4 ** ...)")
            return BinOp(op, left, right)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise ExprError(f"{_describe_node(node)} are not allowed in an expression; use numbers, names, "
                        "+ - * / ** and min, max, abs, sqrt, low, high, mid")

    def segment(self, node: ast.AST) -> str | None:
        """The text a node was parsed from. Expressions are one line; on ASCII text the parser's
        offsets (UTF-8 bytes) are string indexes, which spares ast.get_source_segment splitting the
        text into lines again for every number (a tenth of parsing a desk's checks)."""
        start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is not None and end is not None and getattr(node, "lineno", 1) == 1 and self.ascii:
            return self.text[start:end]
        return ast.get_source_segment(self.text, node)

    def number(self, node: ast.Constant) -> Num:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "text" if isinstance(value, str) else type(value).__name__
            raise ExprError(f"{kind} constants are not allowed; only numbers")
        segment = self.segment(node) or repr(value)
        if isinstance(value, int) and len(str(abs(value))) > MAX_DIGITS:
            raise ExprError(f"number {segment[:20]}... has more than {MAX_DIGITS} digits; use an exponent (1.5e40)")
        number = float(value)
        if not math.isfinite(number) or abs(number) > 1e300:
            raise ExprError(f"number {segment} is out of range (at most ±1e300)")
        return Num(number, segment)

    def exponent(self, node: Node) -> Num:
        """An exponent as one number, its sign included, so that `x ** -1` and `x ** -2` stay apart."""
        if isinstance(node, Num):
            number = node
        elif isinstance(node, Neg) and isinstance(node.operand, Num):
            number = Num(-node.operand.value, f"-{node.operand.text}")
        else:
            raise ExprError("an exponent must be a plain number (x ** 2, x ** 0.5), not an expression")
        if abs(number.value) > MAX_EXPONENT:
            raise ExprError(f"exponent {number.value:g} is too large (at most {MAX_EXPONENT})")
        return number

    def call(self, node: ast.Call, depth: int) -> Node:
        allowed = ", ".join(sorted(FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            raise ExprError(f"only the functions {allowed} can be called, not {_describe_node(node.func)}")
        if node.func.id not in FUNCTIONS:
            raise ExprError(f"'{node.func.id}' is not a function here; the functions are {allowed}")
        name = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"{name}() takes plain arguments only")
        if name in PARTS:
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise ExprError(f"{name}() takes one claim id: {name}(claim_id)")
            return Ref(node.args[0].id, name)
        args = tuple(self.convert(a, depth + 1) for a in node.args)
        wanted = {"abs": 1, "sqrt": 1}.get(name)
        if wanted and len(args) != wanted:
            raise ExprError(f"{name}() takes {wanted} argument")
        if not args:
            raise ExprError(f"{name}() needs at least one argument")
        return Call(name, args)


def _power_reach(node: Node) -> float:
    """The largest product of exponents along any path through nested powers: (x ** 4) ** 4 is 16.
    Bounding it bounds the numbers and polynomial degrees an expression can make sympy build."""
    if isinstance(node, BinOp):
        inner = max(_power_reach(node.left), _power_reach(node.right))
        if node.op == "**":
            assert isinstance(node.right, Num)
            return _power_reach(node.left) * max(1.0, abs(node.right.value))
        return inner
    if isinstance(node, Neg):
        return _power_reach(node.operand)
    if isinstance(node, Call):
        return max(_power_reach(a) for a in node.args)
    return 1.0


def _parse_python(text: str, mode_hint: str) -> ast.AST:
    if not isinstance(text, str) or not text.strip():
        raise ExprError(f"{mode_hint} is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"{mode_hint} is {len(text)} characters long; at most {MAX_LENGTH}")
    if "\n" in text.strip() or "\r" in text:
        raise ExprError(f"{mode_hint} must be on one line")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        detail = exc.msg
        if "^" in text:
            detail += "; note '^' is not a power, write **"
        raise ExprError(f"cannot read {mode_hint} '{text.strip()}': {detail}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"{mode_hint} is nested too deeply") from None


def parse(text: str) -> Node:
    """Parse an arithmetic expression. Raises ExprError.

    A desk repeats check texts and both validation and the checker read each one, so the trees
    (immutable) are kept by text; a text that fails is parsed again, to raise again."""
    if type(text) is str:
        return _parse_text(text)
    tree = _parse_python(text, "expression")
    return _Converter(text.strip()).convert(tree)


@lru_cache(maxsize=65536)
def _parse_text(text: str) -> Node:
    return _Converter(text.strip()).convert(_parse_python(text, "expression"))


def parse_condition(text: str) -> tuple[Node, str, Node]:
    """`a > 0`: (left, op, right) with op one of > >= < <=."""
    tree = _parse_python(text, "condition")
    if not isinstance(tree, ast.Compare) or len(tree.ops) != 1 or type(tree.ops[0]) not in _COMPARE:
        raise ExprError(f"a condition compares two expressions with >, >=, < or <=: '{text.strip()}'")
    converter = _Converter(text.strip())
    return converter.convert(tree.left), _COMPARE[type(tree.ops[0])], converter.convert(tree.comparators[0])


def parse_equation(text: str) -> tuple[Node, Node]:
    """`margin_per_mtok = 0`: (left, right)."""
    if not isinstance(text, str) or text.count("=") != 1 or any(s in text for s in ("==", "<=", ">=", "!=")):
        raise ExprError(f"an equation is written 'left = right' with a single '=': '{text}'")
    left, right = text.split("=")
    return parse(left), parse(right)


def refs(node: Node) -> list[Ref]:
    """Every name the expression reads, in order of appearance."""
    if isinstance(node, Ref):
        return [node]
    if isinstance(node, BinOp):
        return refs(node.left) + refs(node.right)
    if isinstance(node, Neg):
        return refs(node.operand)
    if isinstance(node, Call):
        return [r for a in node.args for r in refs(a)]
    return []


def to_sympy(node: Node, symbol: Callable[[Ref], sympy.Expr]) -> sympy.Expr:
    """Build a sympy expression; `symbol` gives the sympy object for each name."""
    import sympy  # here, not at the top: reading a desk or a store needs the parser, not sympy (0.45 s)

    if isinstance(node, Num):
        return sympy.Integer(int(node.value)) if node.value.is_integer() and "." not in node.text \
            and "e" not in node.text.lower() else sympy.Float(node.value)
    if isinstance(node, Ref):
        return symbol(node)
    if isinstance(node, Neg):
        return -to_sympy(node.operand, symbol)
    if isinstance(node, BinOp):
        left = to_sympy(node.left, symbol)
        if node.op == "**":
            assert isinstance(node.right, Num)
            # The number written, exactly: '0.0833' is 833/10000, never rounded to 1/12 (and
            # 0.0001 never to 0). Exact, so that x ** 0.5 stays a square root sympy can reason about.
            try:
                exponent = Fraction(node.right.text.replace("_", ""))
            except ValueError:  # 0x10 and the like: the value Python read, exactly
                exponent = Fraction(node.right.value)
            return left ** sympy.Rational(exponent.numerator, exponent.denominator)
        right = to_sympy(node.right, symbol)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        return left / right
    args = [to_sympy(a, symbol) for a in node.args]
    if node.name == "min":
        return sympy.Min(*args)
    if node.name == "max":
        return sympy.Max(*args)
    if node.name == "abs":
        return sympy.Abs(args[0])
    return sympy.sqrt(args[0])


def dims_of(node: Node, dims: Callable[[Ref], Dims]) -> Dims:
    """The expression's dimension; raises ExprError when it mixes dimensions."""
    if isinstance(node, Num):
        return DIMENSIONLESS
    if isinstance(node, Ref):
        return dims(node)
    if isinstance(node, Neg):
        return dims_of(node.operand, dims)
    if isinstance(node, BinOp):
        left = dims_of(node.left, dims)
        if node.op == "**":
            assert isinstance(node.right, Num)
            return _power(left, node.right.value)
        right = dims_of(node.right, dims)
        if node.op in "+-":
            if left != right:
                raise ExprError(f"cannot {'add' if node.op == '+' else 'subtract'} {describe_dims(right)} "
                                f"{'to' if node.op == '+' else 'from'} {describe_dims(left)} "
                                f"in '{render(node)}'")
            return left
        sign = 1 if node.op == "*" else -1
        return (left[0] + sign * right[0], left[1] + sign * right[1], left[2] + sign * right[2])
    arg_dims = [dims_of(a, dims) for a in node.args]
    if node.name in ("min", "max"):
        if len(set(arg_dims)) > 1:
            raise ExprError(f"{node.name}() compares {' and '.join(describe_dims(d) for d in arg_dims)}: "
                            "its arguments need one dimension")
        return arg_dims[0]
    if node.name == "sqrt":
        return _power(arg_dims[0], 0.5)
    return arg_dims[0]


def _power(base: Dims, exponent: float) -> Dims:
    if base == DIMENSIONLESS:
        return base
    scaled = [e * exponent for e in base]
    if not all(float(s).is_integer() for s in scaled):
        raise ExprError(f"{describe_dims(base)} to the power {exponent:g} has no meaning")
    return (int(scaled[0]), int(scaled[1]), int(scaled[2]))


def render(node: Node, name: Callable[[Ref], str] = lambda ref: ref.key) -> str:
    """The expression written back as text (parenthesised where it matters); `name` writes each
    reference (explain uses it to show the numbers in place of the names)."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Ref):
        return name(node)
    if isinstance(node, Neg):
        return f"-{_wrap(node.operand, name)}"
    if isinstance(node, BinOp):
        return f"{_wrap(node.left, name)} {node.op} {_wrap(node.right, name)}"
    return f"{node.name}({', '.join(render(a, name) for a in node.args)})"


def _wrap(node: Node, name: Callable[[Ref], str]) -> str:
    return f"({render(node, name)})" if isinstance(node, BinOp | Neg) else render(node, name)  # (-a) ** 2
