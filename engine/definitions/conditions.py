"""Task conditions (`when: EXPR`, docs/workflow-format.md "Conditions"): a small expression
language of our own, tokenized by one regular expression and parsed by recursive descent,
never handed to Python's `eval`.

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") operand)?
    operand := STRING | NUMBER | "true" | "false" | REF | "[" literals "]" | "(" expr ")"
    REF     := params.NAME | tasks.TASK.vars.VAR

Bounded: an expression is at most MAX_CONDITION_CHARS characters and nests at most
MAX_CONDITION_DEPTH levels, and parsing and evaluation are linear in its length (each
token is read once, each node evaluated at most once).

Values: a param's value has its param's type (`int` and `float` as numbers); a var is
text. Comparison: two numbers, or text that reads as a number (`12`, `-0.5`, `1e3`)
against a number or such text, compare as numbers; two other texts compare by code point;
`true`/`false` equal the booleans and the texts `"true"`/`"false"`; ordering anything else
is an error at run time. `X in [..]` is membership by the same equality, `X in TEXT` is
containment of the text X in TEXT.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from wfobj.engine.bounds import MAX_CONDITION_CHARS, MAX_CONDITION_DEPTH
from wfobj.engine.errors import ConditionError, DefinitionError, clip, excerpt

TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
""", re.VERBOSE)
NUMBER_TEXT_RE = re.compile(r"\s*-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*\Z")
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in")


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, punct, keyword, end
    text: str
    pos: int  # 1-based character position


# ---- the tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any  # str, Decimal, bool or a tuple of those


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int


Node = Literal | Ref | Not | BoolOp | Compare
Lookup = Callable[[Ref], Any]


@dataclass(frozen=True)
class Condition:
    """A parsed `when` expression: what it reads, and its value once those are known."""

    text: str
    root: Node

    def refs(self) -> list[Ref]:
        return list(_refs(self.root))

    def tasks(self) -> set[str]:
        """The tasks whose vars it reads: each a dependency of the task it guards."""
        return {ref.parts[1] for ref in self.refs() if ref.parts[0] == "tasks"}

    def evaluate(self, lookup: Lookup) -> bool:
        """True or false; ConditionError (position None) when a value does not fit."""
        return truth(_eval(self.root, lookup), "the condition")


def _refs(node: Node) -> Iterator[Ref]:
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, Not):
        yield from _refs(node.operand)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _refs(operand)
    elif isinstance(node, Compare):
        yield from _refs(node.left)
        yield from _refs(node.right)


# ---- parsing --------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def parse_condition(text: str) -> Condition:
    """The condition written as `text`; ConditionError naming the position otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(None, "must be a non-empty expression")
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(None, f"is {len(text)} characters, over the limit of {MAX_CONDITION_CHARS}")
    parser = _Parser(list(tokenize(text)))
    root = parser.expr(0)
    parser.expect_end()
    return Condition(text, root)


def tokenize(text: str) -> Iterator[Token]:
    pos = 0
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if match is None:
            raise ConditionError(pos + 1, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup
        if kind != "space":
            word = match.group()
            if kind == "name" and word in KEYWORDS:
                kind = "keyword"
            yield Token(kind, word, pos + 1)
        pos = match.end()
    yield Token("end", "", len(text) + 1)


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.token.kind == kind and (text is None or self.token.text == text)

    def fail(self, expected: str) -> ConditionError:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return ConditionError(token.pos, f"expected {expected}, found {found}")

    def expect_end(self) -> None:
        if not self.at("end"):
            raise self.fail("the end of the expression (or `and`, `or`)")

    def deeper(self, depth: int) -> int:
        if depth >= MAX_CONDITION_DEPTH:
            raise ConditionError(self.token.pos, f"nested deeper than {MAX_CONDITION_DEPTH} levels")
        return depth + 1

    def expr(self, depth: int) -> Node:
        return self.chain("or", self.conjunction, depth)

    def conjunction(self, depth: int) -> Node:
        return self.chain("and", self.negation, depth)

    def chain(self, op: str, operand: Callable[[int], Node], depth: int) -> Node:
        items = [operand(depth)]
        while self.at("keyword", op):
            self.take()
            items.append(operand(depth))
        for item in items if len(items) > 1 else ():
            check_boolean(item, op)
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items))

    def negation(self, depth: int) -> Node:
        if self.at("keyword", "not"):
            self.take()
            operand = self.negation(self.deeper(depth))
            check_boolean(operand, "not")
            return Not(operand)
        return self.comparison(depth)

    def comparison(self, depth: int) -> Node:
        left = self.operand(depth)
        if self.at("op") or self.at("keyword", "in"):
            token = self.take()
            return Compare(token.text, left, self.operand(depth), token.pos)
        return left

    def operand(self, depth: int) -> Node:
        token = self.token
        if token.kind == "punct" and token.text == "(":
            self.take()
            node = self.expr(self.deeper(depth))
            if not self.at("punct", ")"):
                raise self.fail("')'")
            self.take()
            return node
        if token.kind == "punct" and token.text == "[":
            return self.list_literal()
        if token.kind == "name":
            self.take()
            return reference(token)
        return Literal(self.literal("a value: a string, a number, true, false, a reference, "
                                    "a list or '('"))

    def literal(self, expected: str) -> Any:
        token = self.token
        if token.kind == "number":
            self.take()
            return Decimal(token.text)
        if token.kind == "string":
            self.take()
            return unquote(token)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.take()
            return token.text == "true"
        raise self.fail(expected)

    def list_literal(self) -> Literal:
        self.take()
        items = []
        while not self.at("punct", "]"):
            items.append(self.literal("a string, a number, true, false or ']'"))
            if self.at("punct", ","):
                self.take()
            elif not self.at("punct", "]"):
                raise self.fail("',' or ']'")
        self.take()
        return Literal(tuple(items))


def reference(token: Token) -> Ref:
    parts = tuple(token.text.split("."))
    if parts[0] == "params" and len(parts) == 2:
        return Ref(parts, token.pos)
    if parts[0] == "tasks" and len(parts) in (4, 5) and parts[2] == "vars":  # 5: CHILD.VAR
        return Ref(parts, token.pos)
    raise ConditionError(token.pos, f"{excerpt(token.text)} is not a reference "
                         "(params.NAME or tasks.TASK.vars.VAR)")


def unquote(token: Token) -> str:
    body, out, i = token.text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped not in ESCAPES:
                raise ConditionError(token.pos + i + 1, f"unknown escape \\{escaped}")
            out.append(ESCAPES[escaped])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def check_boolean(node: Node, where: str) -> None:
    """Refuse a literal that is not true or false as an operand of and / or / not."""
    if isinstance(node, Literal) and not isinstance(node.value, bool):
        raise ConditionError(None, f"{clip(shown(node.value))} is not true or false "
                             f"(an operand of `{where}`)")


def literal_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(literal_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- evaluation -----------------------------------------------------------------------
def _eval(node: Node, lookup: Lookup) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        return lookup(node)
    if isinstance(node, Not):
        return not truth(_eval(node.operand, lookup), "an operand of `not`")
    if isinstance(node, BoolOp):
        want = node.op == "or"  # `or` stops at the first true, `and` at the first false
        for operand in node.operands:
            if truth(_eval(operand, lookup), f"an operand of `{node.op}`") == want:
                return want
        return not want
    return compare(node.op, _eval(node.left, lookup), _eval(node.right, lookup))


def truth(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise ConditionError(None, f"{what} is {clip(shown(value))}, not true or false")


def compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if op == "in":
        return contains(right, left)
    a, b = number(left), number(right)
    if a is None or b is None:
        if not (isinstance(left, str) and isinstance(right, str)):
            raise ConditionError(None, f"cannot order {clip(shown(left))} and {clip(shown(right))}")
        a, b = left, right
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return boolean(left) is not None and boolean(left) == boolean(right)
    if isinstance(left, tuple | list) or isinstance(right, tuple | list):
        return (isinstance(left, tuple | list) and isinstance(right, tuple | list)
                and len(left) == len(right) and all(map(equal, left, right)))
    a, b = number(left), number(right)
    if a is not None and b is not None:
        return a == b
    return isinstance(left, str) and isinstance(right, str) and left == right


def contains(container: Any, item: Any) -> bool:
    if isinstance(container, tuple | list):
        return any(equal(item, member) for member in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    raise ConditionError(None, f"`in` needs a list or a text on its right and a text on its "
                         f"left, got {clip(shown(item))} in {clip(shown(container))}")


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    return None


def number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and len(value) <= 100 and NUMBER_TEXT_RE.match(value):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return literal_text(tuple(value) if isinstance(value, list) else value)


def param_value(ptype: str, stored: Any) -> Any:
    """A run's stored param value as a condition reads it (`float` numbers from their
    decimal text, everything else as stored)."""
    if ptype == "float" and isinstance(stored, str):
        return Decimal(stored)
    return stored


# ---- registration -----------------------------------------------------------------------
def check_condition(tname: str, text: Any, tasks: dict, params: dict) -> Condition:
    """The parsed `when` of task `tname`, every name it reads checked against the
    definition's `tasks` and `params`; DefinitionError naming the task and the position."""
    place = f"tasks.{tname}.when"
    try:
        condition = parse_condition(text)
    except ConditionError as exc:
        raise DefinitionError(place, str(exc)) from None
    for ref in condition.refs():
        problem = ref_problem(ref, tname, tasks, params)
        if problem:
            raise DefinitionError(place, f"at character {ref.pos}: {problem}")
    for node in boolean_operands(condition.root):
        if isinstance(node, Ref) and node.parts[0] == "params":
            ptype = params[node.parts[1]].type
            if ptype not in ("bool", "string"):
                raise DefinitionError(place, f"at character {node.pos}: {node.text} is of type "
                                      f"{ptype}, not true or false; compare it")
    return condition


def ref_problem(ref: Ref, tname: str, tasks: dict, params: dict) -> str | None:
    if ref.parts[0] == "params":
        return None if ref.parts[1] in params else f"{ref.text} names an unknown param"
    other = tasks.get(ref.parts[1])
    if other is None:
        return f"{ref.text} names an unknown task"
    if ref.parts[1] == tname:
        return f"{ref.text}: a task's condition cannot read its own vars"
    var = ".".join(ref.parts[3:])
    if var not in other.outputs.vars:
        return f"{ref.text}: task {excerpt(ref.parts[1])} declares no var {excerpt(var)}"
    return None


def boolean_operands(node: Node) -> Iterator[Node]:
    """The nodes whose value is taken as true or false: the root and the operands of
    `not`, `and`, `or` (and theirs)."""
    yield node
    if isinstance(node, Not):
        yield from boolean_operands(node.operand)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            yield from boolean_operands(operand)


def condition_tasks(text: str | None) -> set[str]:
    """The tasks a stored `when` reads vars of (none when there is no condition)."""
    return set() if text is None else parse_condition(text).tasks()
