"""Static checks of GBNF grammars and JSON schemas, before anything reaches llama.cpp.

llama.cpp parses a GBNF grammar and then applies it while sampling. Some grammars it
parses happily kill the process later (llama-cpp-python 0.3.36, checked on the bundled
model; see also DESIGN.md):

* a character that no token can produce — an empty or reversed range ``[z-a]``, ``[]``,
  a NUL ``"\\x00"`` (llama.cpp ends every decoded token with a 0, so NUL never matches),
  a code point above U+10FFFF — or a token reference ``<[N]>``: at that point no token is
  allowed, the sampler picks one anyway and llama.cpp throws "Unexpected empty grammar
  stack after accepting piece", which ends the process (SIGABRT, exit 134);
* a repetition whose minimum is above its maximum, ``"a"{2,1}``: the parser's unsigned
  ``max - min`` wraps around and it allocates until memory runs out;
* deep nesting ``((((…))))``: the parser recurses once per level (a stack overflow);
* many alternatives live at once: each costs a pass over the whole vocabulary per
  token (262,144 tokens for Gemma 3): 2,000 alternatives took 1.9 s per token here.

:func:`check_grammar` parses the grammar the way ``llama_grammar_parser::parse`` does
(src/llama-grammar.cpp: the same syntax, escapes and repetition rewrite) and refuses all
of the above with an :class:`~live.llm.InputError` naming the field, plus what llama.cpp
itself would refuse (syntax errors, undefined rules, left recursion). It is the first line
of defence; the model still runs in a separate, memory-capped process
(live/worker.py) in case a grammar gets past it.

:func:`grammar_for_schema` turns a JSON schema into GBNF with llama.cpp's converter and
checks the result the same way; the schema's repetition counts are bounded first, because
the converter writes ``minItems`` copies of a rule out in full.

Pure Python, no Django and no llama_cpp import (the converter is imported where it runs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from live.llm import GRAMMAR_MAX_CHARS, InputError, check_text

#: Largest repetition count, {m,n} or a schema's minLength/maxItems/...: llama.cpp writes a
#: rule per optional repeat (recent llama.cpp refuses above 2,000 itself).
MAX_REPETITION = 1000
#: Deepest nesting of parentheses (llama.cpp's parser recurses once per level).
MAX_NESTING = 32
#: Rule elements after llama.cpp rewrites the repetitions (S{m,n} copies S m times and
#: adds n-m rules), and rules after that rewrite.
MAX_ELEMENTS = 100_000
MAX_RULES = 5_000
#: Alternatives written in the grammar (every ``|`` plus one per rule or group).
MAX_ALTERNATIVES = 2_000
#: Places the grammar can be at once (alternatives reachable without reading a
#: character). Sampling checks the vocabulary once per place and token: measured on the
#: bundled model, 200 places cost about as much as one, 500 four times as much.
MAX_PLACES = 256
#: Items (characters and ranges) in one character class: llama.cpp compares a candidate
#: token's character with every item of the class, for each of the 262,144 tokens.
MAX_CLASS_ITEMS = 128
#: Highest Unicode code point; llama.cpp's \U escape accepts any 32-bit value.
MAX_CODE_POINT = 0x10FFFF
#: Nodes of a JSON schema walked by check_schema.
MAX_SCHEMA_NODES = 20_000


def _fail(field_name: str, message: str) -> InputError:
    return InputError(field_name, f"invalid GBNF: {message}")


# --- the parsed form -------------------------------------------------------------------
# One item is what a repetition operator applies to in llama.cpp: a whole literal, a whole
# character class, ".", a rule reference, a parenthesised group, or a repeated item.

@dataclass
class Seq:
    """One alternative: a sequence of items."""

    items: list[Any] = field(default_factory=list)


@dataclass
class Literal:
    length: int  # characters; "" is an empty literal


@dataclass
class CharClass:
    size: int  # llama.cpp elements: one per character, two per range


ANY_CHAR = CharClass(1)  # "."


@dataclass
class Ref:
    name: str
    where: str  # "line L, column C", for the message if the rule is undefined


@dataclass
class Group:
    alternatives: list[Seq]


@dataclass
class Repeat:
    item: Any
    low: int
    high: int | None  # None: no upper bound
    depth: int = 1  # repetitions stacked on the same item ("a"{2}{3}): 2


# --- the parser --------------------------------------------------------------------------

def _is_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "-")


class _Parser:
    """llama_grammar_parser::parse over a Python string, with the checks this module adds.

    Recursive for parentheses like llama.cpp's, with the depth bounded by MAX_NESTING
    before each level, so Python's own stack is never at risk."""

    def __init__(self, text: str, field_name: str):
        self.text = text
        self.pos = 0
        self.field = field_name
        self.rules: dict[str, list[Seq]] = {}
        self.alternatives = 0
        self.depth = 0

    # -- positions and errors ------------------------------------------------------

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {column}"

    def error(self, message: str, pos: int | None = None) -> InputError:
        return _fail(self.field, f"{message} at {self.where(pos)}")

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    # -- lexical pieces ------------------------------------------------------------

    def space(self, newline_ok: bool) -> None:
        text, pos = self.text, self.pos
        while pos < len(text):
            ch = text[pos]
            if ch == "#":
                while pos < len(text) and text[pos] not in "\r\n":
                    pos += 1
            elif ch in " \t" or (newline_ok and ch in "\r\n"):
                pos += 1
            else:
                break
        self.pos = pos

    def name(self) -> str:
        start = self.pos
        while _is_word(self.peek()):
            self.pos += 1
        if self.pos == start:
            raise self.error("expecting a rule name")
        return self.text[start:self.pos]

    def integer(self) -> int:
        start = self.pos
        while self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        if self.pos == start:
            raise self.error("expecting an integer")
        digits = self.text[start:self.pos]
        if len(digits) > 9 or int(digits) > MAX_REPETITION:
            raise self.error(f"a repetition count of {digits} is more than the {MAX_REPETITION} allowed", start)
        return int(digits)

    def char(self) -> int:
        """One character of a literal or class, escapes decoded (llama.cpp parse_char)."""
        start = self.pos
        ch = self.peek()
        if ch == "":
            raise self.error("unexpected end of the grammar")
        if ch != "\\":
            self.pos += 1
            return ord(ch)
        kind = self.peek(1)
        sizes = {"x": 2, "u": 4, "U": 8}
        if kind in sizes:
            digits = self.text[self.pos + 2:self.pos + 2 + sizes[kind]]
            if len(digits) != sizes[kind] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self.error(f"expecting {sizes[kind]} hex digits after \\{kind}", start)
            self.pos += 2 + sizes[kind]
            value = int(digits, 16)
            if value > MAX_CODE_POINT:
                raise self.error(f"\\{kind}{digits} is above U+10FFFF, the last Unicode code point", start)
            return value
        simple = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-"}
        if kind in simple:
            self.pos += 2
            return ord(simple[kind])
        raise self.error(f"unknown escape \\{kind}", start)

    # -- grammar structure ---------------------------------------------------------

    def parse(self) -> dict[str, list[Seq]]:
        self.space(True)
        while self.pos < len(self.text):
            self.rule()
        return self.rules

    def rule(self) -> None:
        name = self.name()
        self.space(False)
        if self.text[self.pos:self.pos + 3] != "::=":
            raise self.error("expecting ::=")
        self.pos += 3
        self.space(True)
        alternatives = self.alternates(nested=False)
        if self.peek() == "\r":
            self.pos += 2 if self.peek(1) == "\n" else 1
        elif self.peek() == "\n":
            self.pos += 1
        elif self.peek():
            raise self.error(f"expecting newline or end, found {self.peek()!r}")
        self.space(True)
        self.rules[name] = alternatives  # a later definition replaces, as in llama.cpp

    def alternates(self, nested: bool) -> list[Seq]:
        alternatives = [self.sequence(nested)]
        while self.peek() == "|":
            self.pos += 1
            self.space(True)
            alternatives.append(self.sequence(nested))
        self.alternatives += len(alternatives)
        if self.alternatives > MAX_ALTERNATIVES:
            raise self.error(f"more than {MAX_ALTERNATIVES} alternatives")
        return alternatives

    def sequence(self, nested: bool) -> Seq:
        seq = Seq()
        while self.pos < len(self.text):
            start = self.pos
            ch = self.peek()
            if ch == '"':
                self.pos += 1
                length = 0
                while self.peek() != '"':
                    if self.char() == 0:
                        raise self.error("NUL (\\x00) can never be generated", start)
                    length += 1
                self.pos += 1
                seq.items.append(Literal(length))
            elif ch == "[":
                seq.items.append(self.char_class())
            elif ch in "<!":
                raise self.error("token references (<[id]>, <token>) are not accepted; write the text instead")
            elif _is_word(ch):
                where = self.where()
                seq.items.append(Ref(self.name(), where))
            elif ch == "(":
                if self.depth >= MAX_NESTING:
                    raise self.error(f"parentheses nested more than {MAX_NESTING} deep")
                self.pos += 1
                self.space(True)
                self.depth += 1
                group = Group(self.alternates(nested=True))
                self.depth -= 1
                if self.peek() != ")":
                    raise self.error("expecting ')'")
                self.pos += 1
                seq.items.append(group)
            elif ch == ".":
                self.pos += 1
                seq.items.append(ANY_CHAR)
            elif ch in "*+?{":
                # llama.cpp: "expecting preceding item" also for an empty literal ""
                if not seq.items or seq.items[-1] == Literal(0):
                    raise self.error(f"expecting an item before {ch!r}")
                seq.items.append(self.repetition(seq.items.pop(), start, nested))
                continue  # repetition() skipped the space after itself
            else:
                break
            self.space(nested)
        return seq

    def char_class(self) -> CharClass:
        start = self.pos
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        size = 0
        while self.peek() != "]":
            if not self.peek():
                raise self.error("unexpected end of the grammar inside [...]", start)
            item = self.pos
            low = high = self.char()
            size += 1
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                high = self.char()
                size += 1
                if high < low:
                    raise self.error(f"the range {self.text[item:self.pos]} is reversed (U+{low:04X} > U+{high:04X})",
                                     item)
            if low == 0 and not negated:
                raise self.error("NUL (\\x00) can never be generated", item)
            ranges.append((low, high))
            if len(ranges) > MAX_CLASS_ITEMS:
                raise self.error(f"a character class of more than {MAX_CLASS_ITEMS} characters and ranges", start)
        self.pos += 1
        if not ranges:  # llama.cpp writes nothing for it: neither a character nor a match
            raise self.error(f"{self.text[start:self.pos]} lists no characters", start)
        if not _matches_something(ranges, negated):
            raise self.error(f"{self.text[start:self.pos]} matches no character", start)
        return CharClass(size)

    def repetition(self, item: Any, start: int, nested: bool) -> Repeat:
        depth = item.depth + 1 if isinstance(item, Repeat) else 1
        if depth > MAX_NESTING:
            raise self.error(f"more than {MAX_NESTING} repetitions applied to one item")
        ch = self.peek()
        self.pos += 1
        if ch == "*":
            low, high = 0, None
        elif ch == "+":
            low, high = 1, None
        elif ch == "?":
            low, high = 0, 1
        else:
            self.space(nested)
            low = self.integer()
            self.space(nested)
            if self.peek() == "}":
                high = low
            elif self.peek() == ",":
                self.pos += 1
                self.space(nested)
                high = self.integer() if self.peek().isascii() and self.peek().isdigit() else None
                self.space(nested)
                if self.peek() != "}":
                    raise self.error("expecting '}'")
            else:
                raise self.error("expecting ',' or '}'")
            self.pos += 1
            if high is not None and high < low:
                raise self.error(f"the repetition {self.text[start:self.pos]} has its minimum above its maximum",
                                 start)
        self.space(nested)
        return Repeat(item, low, high, depth)


def _matches_something(ranges: list[tuple[int, int]], negated: bool) -> bool:
    """Whether a class matches at least one code point that a token can produce (1 to
    U+10FFFF; NUL never matches, see the module docstring)."""
    if not negated:
        return any(high >= max(low, 1) for low, high in ranges)
    covered = 0  # highest code point covered so far, scanning from 1
    for low, high in sorted(ranges):
        if low > covered + 1:
            return True
        covered = max(covered, high)
    return covered < MAX_CODE_POINT


# --- what the parsed grammar costs --------------------------------------------------------

class _Analysis:
    """Which items can be empty, how many places each can start at, and the sizes after
    llama.cpp's repetition rewrite; refuses left recursion and grammars over the bounds.

    The *places* of an item: how many terminals the grammar can be at when it starts that
    item, without reading a character. llama.cpp keeps one stack per place and checks every
    candidate token against each, so this is what a token costs. A repetition of something
    that can be empty multiplies it; one without an upper bound is left-recursive after
    the rewrite (S' ::= S S' | empty). llama.cpp's own left-recursion check refuses most of
    these but lets some through (`root ::= ("a"?)*`); refusing them all costs users nothing.

    Recursion here follows the written nesting only (at most MAX_NESTING groups and
    MAX_NESTING stacked repetitions); rule references are resolved with explicit stacks,
    so a long chain of rules cannot exhaust Python's stack.
    """

    def __init__(self, rules: dict[str, list[Seq]], field_name: str):
        self.rules = rules
        self.field = field_name
        self.nullable = self._nullable_rules()
        self.places: dict[str, int] = {}
        for name in rules:
            self._rule_places(name)
        self.check_every_position()

    def fail(self, message: str) -> InputError:
        return _fail(self.field, message)

    # -- can an item match the empty string ----------------------------------------

    def item_nullable(self, item: Any) -> bool:
        if isinstance(item, Literal):
            return item.length == 0
        if isinstance(item, CharClass):
            return False
        if isinstance(item, Ref):
            return self.nullable[item.name]
        if isinstance(item, Group):
            return any(all(self.item_nullable(i) for i in seq.items) for seq in item.alternatives)
        return item.low == 0 or self.item_nullable(item.item)

    def _nullable_rules(self) -> dict[str, bool]:
        self.nullable = dict.fromkeys(self.rules, False)
        changed = True
        while changed:  # a fixpoint: at most one pass per rule
            changed = False
            for name, alternatives in self.rules.items():
                if not self.nullable[name] and any(all(self.item_nullable(i) for i in seq.items)
                                                   for seq in alternatives):
                    self.nullable[name] = changed = True
        return self.nullable

    # -- places ------------------------------------------------------------------------

    def _start_refs(self, alternatives: list[Seq]):
        """Rules referenced where an alternative can start (before any character)."""
        for seq in alternatives:
            for item in seq.items:
                yield from self._item_start_refs(item)
                if not self.item_nullable(item):
                    break

    def _item_start_refs(self, item: Any):
        while isinstance(item, Repeat):
            item = item.item
        if isinstance(item, Ref):
            yield item.name
        elif isinstance(item, Group):
            yield from self._start_refs(item.alternatives)

    def _rule_places(self, root: str) -> None:
        """Places of ``root`` and every rule it can start with, children first (an
        iterative depth-first search; a rule met again on the way is left recursion)."""
        if root in self.places:
            return
        path = [root]
        pending = [iter(list(self._start_refs(self.rules[root])))]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                name = path.pop()
                pending.pop()
                self.places[name] = self.alternatives_places(self.rules[name])
            elif child in path:
                cycle = path[path.index(child):] + [child]
                raise self.fail("left recursion: " + " -> ".join(cycle) + " (a rule that can start with itself)")
            elif child not in self.places:
                path.append(child)
                pending.append(iter(list(self._start_refs(self.rules[child]))))

    def alternatives_places(self, alternatives: list[Seq]) -> int:
        return self.bound(sum(self.sequence_places(seq) for seq in alternatives))

    def sequence_places(self, seq: Seq) -> int:
        """Places at the start of ``seq``: its items up to the first that cannot be empty."""
        places = 0
        for item in seq.items:
            places += self.item_places(item)
            if not self.item_nullable(item):
                break
        return self.bound(places)

    def item_places(self, item: Any) -> int:
        if isinstance(item, Literal):
            return 1 if item.length else 0
        if isinstance(item, CharClass):
            return 1
        if isinstance(item, Ref):
            return self.places[item.name]
        if isinstance(item, Group):
            return self.alternatives_places(item.alternatives)
        places = self.item_places(item.item)
        if not self.item_nullable(item.item):
            return places
        if item.high is None:
            raise self.fail("a repetition without upper bound (*, +, {m,}) of something that can be empty "
                            "is left-recursive")
        return self.bound(places * item.high)

    def check_every_position(self) -> None:
        """The places open after each item of every sequence (once all rules' own places
        are known): the item's successors up to the first that cannot be empty."""
        stack = [alternatives for alternatives in self.rules.values()]
        while stack:
            for seq in stack.pop():
                reach = 0
                for item in reversed(seq.items):
                    here = self.item_places(item)
                    reach = self.bound(here + reach if self.item_nullable(item) else here)
                    while isinstance(item, Repeat):
                        item = item.item
                    if isinstance(item, Group):
                        stack.append(item.alternatives)

    def bound(self, places: int) -> int:
        if places > MAX_PLACES:
            raise self.fail(f"the grammar can be at {places} places at once (alternatives open before the "
                            f"next character); at most {MAX_PLACES} are accepted, since every token is "
                            "checked against each")
        return places

    # -- sizes after the repetition rewrite -------------------------------------------

    def sizes(self) -> tuple[int, int]:
        """(elements, rules) of the grammar llama.cpp builds."""
        elements, rules = 0, len(self.rules)
        for alternatives in self.rules.values():
            e, extra_e, extra_r = self.alternatives_size(alternatives)
            elements, rules = elements + e + extra_e, rules + extra_r
        return elements, rules

    def alternatives_size(self, alternatives: list[Seq]) -> tuple[int, int, int]:
        """(elements of this rule, elements and rules it adds elsewhere)."""
        elements, extra_elements, extra_rules = len(alternatives), 0, 0  # one ALT or END each
        for seq in alternatives:
            for item in seq.items:
                e, extra_e, extra_r = self.item_size(item)
                elements, extra_elements, extra_rules = elements + e, extra_elements + extra_e, extra_rules + extra_r
        return elements, extra_elements, extra_rules

    def item_size(self, item: Any) -> tuple[int, int, int]:
        """(elements where the item is written, elements and rules it adds elsewhere)."""
        if isinstance(item, Literal):
            return item.length, 0, 0
        if isinstance(item, CharClass):
            return item.size, 0, 0
        if isinstance(item, Ref):
            return 1, 0, 0
        if isinstance(item, Group):  # a reference to a rule of its own
            e, extra_e, extra_r = self.alternatives_size(item.alternatives)
            return 1, e + extra_e, extra_r + 1
        size, extra_e, extra_r = self.item_size(item.item)
        # S{m,n}: S written m times, then n-m rules "S' ::= S S'' |" (one, "S' ::= S S' |",
        # without an upper bound) and a reference to the first of them.
        optional = 1 if item.high is None else item.high - item.low
        return size * item.low + (optional > 0), extra_e + optional * (size + 3), extra_r + optional


def check_grammar(text: Any, field_name: str = "grammar") -> None:
    """Raise InputError(field_name, ...) unless ``text`` is a GBNF grammar that llama.cpp
    can parse and apply without harm (see the module docstring)."""
    check_text(field_name, text, GRAMMAR_MAX_CHARS)  # a string, not empty, no NUL, valid Unicode
    rules = _Parser(text, field_name).parse()
    if "root" not in rules:
        raise _fail(field_name, "there is no rule named root (the start rule)")
    for alternatives in rules.values():
        for ref in _references(alternatives):
            if ref.name not in rules:
                raise _fail(field_name, f"undefined rule identifier '{ref.name}' at {ref.where}")
    analysis = _Analysis(rules, field_name)
    elements, rule_count = analysis.sizes()
    if elements > MAX_ELEMENTS or rule_count > MAX_RULES:
        raise _fail(field_name, f"the repetitions expand to {elements:,} elements in {rule_count:,} rules; "
                                f"at most {MAX_ELEMENTS:,} elements and {MAX_RULES:,} rules are accepted")


def _references(alternatives: list[Seq]):
    stack = list(alternatives)
    while stack:
        node = stack.pop()
        if isinstance(node, Seq):
            stack.extend(node.items)
        elif isinstance(node, Ref):
            yield node
        elif isinstance(node, Group):
            stack.extend(node.alternatives)
        elif isinstance(node, Repeat):
            stack.append(node.item)


# --- JSON schemas ------------------------------------------------------------------------

#: Schema keywords whose number the converter turns into that many copies of a rule.
COUNT_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
                  "minContains", "maxContains")
#: {m}, {m,} and {m,n} in a regular expression ("pattern").
_QUANTIFIER = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def check_schema(schema: Any, field_name: str = "json_schema") -> None:
    """Refuse a JSON schema whose conversion to GBNF would be unbounded work before it
    starts: the converter writes ``"minItems": 10**9`` out as a billion copies of a rule
    name. Walks the schema with an explicit stack."""
    stack, seen = [schema], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_SCHEMA_NODES:
            raise InputError(field_name, f"has more than {MAX_SCHEMA_NODES:,} parts")
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key in COUNT_KEYWORDS:
            value = node.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value <= MAX_REPETITION:
                raise InputError(field_name, f"{key} is {value}; at most {MAX_REPETITION} is accepted")
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            for match in _QUANTIFIER.finditer(pattern):
                for number in match.groups():
                    if number and (len(number) > 9 or int(number) > MAX_REPETITION):
                        raise InputError(field_name, f"pattern: the repetition {match.group(0)} is more than the "
                                                     f"{MAX_REPETITION} allowed")
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            raise InputError(field_name, f"$ref {ref[:80]!r}: only references inside the schema (#/...) are followed")
        stack.extend(node.values())


def grammar_for_schema(schema: Any, field_name: str = "json_schema") -> str:
    """GBNF for a JSON schema (an object, or its JSON text), made by llama.cpp's
    converter and held to the same checks as a grammar written by hand."""
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(field_name, f"is not valid JSON: {getattr(exc, 'msg', exc)}") from exc
    if not isinstance(schema, dict):
        raise InputError(field_name, "must be a JSON object")
    check_schema(schema, field_name)
    from live.engine import json_schema_to_grammar  # pure Python; loads no model

    try:
        text = json_schema_to_grammar(schema)
    except InputError as exc:
        raise InputError(field_name, exc.message) from exc
    if len(text) > GRAMMAR_MAX_CHARS:
        raise InputError(field_name, f"turns into a grammar of {len(text):,} characters; at most "
                                     f"{GRAMMAR_MAX_CHARS:,} are accepted")
    check_grammar(text, field_name)
    return text
