"""The query language, read into a tree that every search engine compiles.

Terms, "quoted phrases", AND / OR / NOT (also && || ! and a leading -), parentheses,
field:value (title, author, subject, collection, type, language, year), year ranges
(year:1990..2000, year:>=1990) and prefix*. Nothing here ever fails: an unbalanced
quote or bracket, an operator with nothing to act on, an unknown field, a bad range are
all read as a person would most likely mean them, and `Parsed.notes` says what was done.

Operators count only where someone plainly typed one; in pasted text, punctuation is
text: a word joined by - / . or ' ("e-mail", "EL/1") is its parts side by side or the
joined word; a quote without its pair is no phrase; a lone " - " is a dash, not NOT; and
in a text written in capitals (four words or more) AND, OR and NOT are words.

Words and phrases written side by side (an implicit And) are all wanted, none required:
the engines put the documents that have every one of them first, then those lacking
some (backend/search/ranking.py). AND, NOT, -word, fields and ranges are strict.
"""

import re
from dataclasses import dataclass, field

FIELDS = ("title", "author", "subject", "collection", "type", "language", "year")
ALIASES = {
    "by": "author",
    "creator": "author",
    "authors": "author",
    "subjects": "subject",
    "keyword": "subject",
    "keywords": "subject",
    "lang": "language",
    "format": "type",
    "date": "year",
    "in": "collection",
}
MAX_TERMS = 64  # a pasted essay is cut, not refused


# Hebrew's vowel points and cantillation, Arabic's short vowels (harakat), Quranic marks
# and the tatweel (a stretching stroke): mostly not written, and not typed in a search box;
# every engine indexes and searches words without them (Snowball's Arabic stemmer dropped
# them for Arabic documents only; nothing did for Hebrew).
_POINTS = re.compile(
    "[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4"
    "\u06e7\u06e8\u06ea-\u06ed\u08d3-\u08e1\u08e3-\u08ff]"
)


def without_points(text: str) -> str:
    """The text without Hebrew and Arabic vowel and cantillation marks."""
    return _POINTS.sub("", text)


@dataclass(frozen=True)
class Term:
    text: str
    field: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]
    field: str | None = None


@dataclass(frozen=True)
class Range:
    field: str
    low: int | None
    high: int | None


@dataclass(frozen=True)
class Not:
    child: "Node"


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]
    # Words simply written side by side (no AND): engines may let a long query match
    # most rather than all of them.
    implicit: bool = False


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]
    # A word typed with joining marks ("e-mail"): its parts as a phrase, or joined. Shown
    # as typed.
    typed: str = field(default="", compare=False)


Node = Term | Phrase | Range | Not | And | Or


@dataclass
class Parsed:
    tree: Node | None
    notes: list[str] = field(default_factory=list)

    @property
    def read_as(self) -> str:
        return render(self.tree) if self.tree is not None else ""

    def terms(self) -> list[str]:
        """The words that are searched for (not excluded), for highlighting and spelling."""
        return [w for n in positives(self.tree) for w in _words(n)]


# One token: a quoted phrase, brackets, or a run of other text. (A quote without its
# pair is taken out first.)
_TOKEN = re.compile(r'"[^"]*"|[()]|[^\s()"]+')
_QUOTES = re.compile(r"[“”„‟]")
_OPS = {"AND": "AND", "&&": "AND", "&": "AND", "OR": "OR", "||": "OR", "|": "OR", "NOT": "NOT"}
# A - or ! glued to a "phrase" or a (group) at a word start: an exclusion, as typed.
_GLUED_NOT = "\x00not"
_GLUED = re.compile(r'(^|[\s(])[-!](?=["(])')
_RANGE = re.compile(r"^(\d{1,4})?\s*(?:\.\.|-|to)\s*(\d{1,4})?$")
_COMPARE = re.compile(r"^(>=|<=|>|<)(\d{1,4})$")
_WORD_CHARS = re.compile(r"[^\w*'’.-]+", re.UNICODE)
# Marks that join the parts of one word ("e-mail", "EL/1", "o'brien", "U.S."); / is
# already a separator for _clean, which keeps the others.
_JOINERS = re.compile(r"[.'’-]+")
CAPITALS_WORDS = 4  # a text in capitals with at least this many words reads AND as a word


def _in_capitals(tokens: list[str]) -> bool:
    """A pasted text in capitals ("WHAT IS KNOWN ABOUT HEAT AND MASS TRANSFER")."""
    words = [t for t in tokens if any(c.isalpha() for c in t)]
    return len(words) >= CAPITALS_WORDS and not any(c.islower() for t in words for c in t)


# The word still being typed at the end of a search box: a letter or digit run of two or
# more, maybe after field: (not year:, whose values are numbers, not words).
_OPEN_WORD = re.compile(r"(?:^|[\s(])(?:(\w+):)?(\w{2,})$", re.UNICODE)
# Scripts written without spaces between words: an input method gives whole words.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def open_ended(text: str) -> str | None:
    """Text still being typed, as search-as-you-type reads it: the last word, when nothing
    follows it, as a prefix ("wo" already finds "world"), so results follow the box
    without a flash of "nothing matched" at every partial word. None when the text does
    not end in such a word: a space after it, a closing quote or bracket, an operator, a
    single letter, a year, a word of a script written without spaces."""
    if text.count('"') % 2 or not (m := _OPEN_WORD.search(text)):
        return None
    field_name, word = m.group(1), m.group(2)
    if word.upper() in _OPS or _UNSPACED.search(word):
        return None
    if field_name and ALIASES.get(field_name.lower(), field_name.lower()) == "year":
        return None
    return text + "*"


def parse(text: str) -> Parsed:
    text = without_points(text)
    notes: list[str] = []
    tokens = _tokens(text, notes)
    if _in_capitals(tokens):
        read = [f'"{t}"' if t in ("AND", "OR", "NOT") else t for t in tokens]
        if read != tokens:
            notes.append("read AND, OR and NOT as words: the text is in capitals")
        tokens = read
    parser = _Parser(tokens, notes)
    tree = parser.expression()
    while parser.pos < len(tokens):  # a stray ")" ends an expression early: go on after it
        parser.pos += 1
        parser.unbalanced = True
        rest = parser.expression()
        if rest is not None:
            tree = _and([tree, rest], implicit=True) if tree is not None else rest
    if parser.unbalanced:
        notes.append("ignored an unmatched bracket")
    tree = _simplify(tree)
    if isinstance(tree, Not):
        notes.append("a query cannot only exclude: searched for the excluded words instead")
        tree = tree.child
    return Parsed(tree=tree, notes=list(dict.fromkeys(notes)))


def _tokens(text: str, notes: list[str]) -> list[str]:
    text = _QUOTES.sub('"', text)
    if text.count('"') % 2:  # the last quote has no pair: it is no phrase
        at = text.rindex('"')
        text = text[:at] + " " + text[at + 1 :]
        notes.append("ignored a quote without its pair")
    text = _GLUED.sub(lambda m: f"{m.group(1)}{_GLUED_NOT} ", text)
    out = []
    for tok in _TOKEN.findall(text):
        if tok in ("-", "–", "—"):  # a dash between words, not NOT
            continue
        out.append(tok)
    if len(out) > MAX_TERMS:
        notes.append(f"used the first {MAX_TERMS} words")
        out = out[:MAX_TERMS]
    return out


class _Parser:
    def __init__(self, tokens: list[str], notes: list[str]) -> None:
        self.tokens, self.notes, self.pos, self.unbalanced = tokens, notes, 0, False

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def op(self) -> str | None:
        """Operators are written in capitals (or as symbols): "war and peace" is three words."""
        tok = self.peek()
        return _OPS.get(tok) if tok is not None else None

    def expression(self) -> Node | None:
        parts = [self.conjunction()]
        while self.op() == "OR":
            self.pos += 1
            right = self.conjunction()
            if right is None:
                self.notes.append("ignored an OR with nothing after it")
            parts.append(right)
        kept = [p for p in parts if p is not None]
        if len(kept) < len(parts) and kept and parts[0] is None:
            self.notes.append("ignored an OR with nothing before it")
        return None if not kept else kept[0] if len(kept) == 1 else Or(tuple(kept))

    def conjunction(self) -> Node | None:
        parts: list[Node] = []
        explicit = False
        while (tok := self.peek()) is not None and tok != ")" and self.op() != "OR":
            if self.op() == "AND":
                self.pos += 1
                if not parts:
                    self.notes.append("ignored an AND with nothing before it")
                nxt = self.peek()
                if nxt is None or nxt == ")" or self.op() == "OR":
                    self.notes.append("ignored an AND with nothing after it")
                explicit = True
                continue
            node = self.unary()
            if node is not None:
                parts.append(node)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else _and(parts, implicit=not explicit)

    def unary(self) -> Node | None:
        tok = self.peek()
        assert tok is not None
        negate = False
        if self.op() == "NOT" or tok in ("!", _GLUED_NOT):
            self.pos += 1
            nxt = self.peek()
            if nxt is None or nxt == ")" or self.op() in ("AND", "OR"):
                self.notes.append(f"ignored a {tok} with nothing after it")
                return None
            child = self.unary()
            return Not(child) if child is not None else None
        if tok.startswith(("-", "!")) and len(tok) > 1 and not tok[1:].startswith(("-", "!")):
            self.tokens[self.pos] = tok[1:]
            negate = True
        node = self.primary()
        return Not(node) if negate and node is not None else node

    def primary(self) -> Node | None:
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok == "(":
            inner = self.expression()
            if self.peek() == ")":
                self.pos += 1
            else:
                self.unbalanced = True
            return inner
        if tok == ")":
            self.unbalanced = True
            return None
        if tok.startswith('"'):
            return _phrase(tok[1:-1], None)
        name, sep, value = tok.partition(":")
        key = ALIASES.get(name.lower(), name.lower())
        if sep and name and key in FIELDS:
            if not value and self.peek() is not None and self.peek().startswith('"'):  # type: ignore[union-attr]
                value = self.tokens[self.pos]
                self.pos += 1
            if not value:
                self.notes.append(f"ignored {name}: with no value")
                return None
            return self.field(key, value)
        if sep and name and value and not name.isdigit():
            self.notes.append(f"“{name}” is not a field; searched for the words")
            words = _clean(f"{name} {value}").split()
            return _and([Term(w) for w in words], implicit=True) if words else None
        return _term(tok, None)

    def field(self, key: str, value: str) -> Node | None:
        if key == "year":
            return self.year(value)
        if value.startswith('"'):
            return _phrase(value.strip('"'), key)
        return _term(value, key)

    def year(self, value: str) -> Node | None:
        value = value.strip('"').strip()
        if value.isdigit() and len(value) <= 4:
            return Range("year", int(value), int(value))
        if m := _COMPARE.match(value):
            op, n = m.group(1), int(m.group(2))
            low = n + 1 if op == ">" else n if op == ">=" else None
            high = n - 1 if op == "<" else n if op == "<=" else None
            return Range("year", low, high)
        if (m := _RANGE.match(value)) and (m.group(1) or m.group(2)):
            low = int(m.group(1)) if m.group(1) else None
            high = int(m.group(2)) if m.group(2) else None
            if low is not None and high is not None and low > high:
                self.notes.append(f"read year:{value} as year:{high}..{low}")
                low, high = high, low
            return Range("year", low, high)
        self.notes.append(f"“{value}” is not a year or a range of years; searched for the word")
        return _term(value, None)


def _clean(text: str) -> str:
    return " ".join(_WORD_CHARS.sub(" ", text).split())


def _term(tok: str, field_name: str | None) -> Node | None:
    prefix = tok.endswith("*") and len(tok.rstrip("*")) > 0
    words = _JOINERS.sub(" ", _clean(tok.replace("*", " "))).split()
    if not words:
        return None
    if len(words) == 1:
        return Term(words[0], field_name, prefix=prefix)
    # "e-mail", "EL/1", "o'brien", "U.S.": its parts side by side, or written as one word
    # (the last part a prefix when the word ends in *).
    joined = Term("".join(words), field_name, prefix=prefix)
    typed = "".join(c for c in tok if c != "*").strip(".-'’/") + ("*" if prefix else "")
    return Or((Phrase(tuple(words), field_name), joined), typed=typed)


def _phrase(text: str, field_name: str | None) -> Node | None:
    words = tuple(w.strip(".-'’") for w in _clean(text.replace("*", " ")).split())
    words = tuple(w for w in words if w)
    if not words:
        return None
    return Term(words[0], field_name) if len(words) == 1 else Phrase(words, field_name)


def _and(parts: list[Node], implicit: bool) -> Node:
    return parts[0] if len(parts) == 1 else And(tuple(parts), implicit=implicit)


def _simplify(node: Node | None) -> Node | None:
    """Flatten nested groups of the same kind; drop double negation."""
    if isinstance(node, Not):
        child = _simplify(node.child)
        if isinstance(child, Not):
            return child.child
        return Not(child) if child is not None else None
    if isinstance(node, And | Or):
        kids: list[Node] = []
        for c in (_simplify(c) for c in node.children):
            if c is None:
                continue
            same = isinstance(c, type(node)) and (
                c.implicit == node.implicit  # type: ignore[union-attr]
                if isinstance(c, And)
                else not getattr(c, "typed", "")
            )
            kids.extend(c.children if same else [c])  # type: ignore[union-attr]
        if not kids:
            return None
        if len(kids) == 1:
            return kids[0]
        if isinstance(node, And):
            return And(tuple(kids), implicit=node.implicit)
        return Or(tuple(kids), typed=node.typed)
    return node


def positives(node: Node | None) -> list[Node]:
    """The leaves that are searched for (under no NOT)."""
    if node is None or isinstance(node, Not):
        return []
    if isinstance(node, And | Or):
        return [leaf for c in node.children for leaf in positives(c)]
    return [node]


def _words(node: Node) -> list[str]:
    if isinstance(node, Term):
        return [node.text]
    if isinstance(node, Phrase):
        return list(node.words)
    return []


def render(node: Node, top: bool = True) -> str:
    """The canonical text of a tree: what the page shows as "searched for"."""
    if isinstance(node, Term):
        text = _quote(node.text) + ("*" if node.prefix else "")
        return f"{node.field}:{text}" if node.field else text
    if isinstance(node, Phrase):
        text = '"' + " ".join(node.words) + '"'
        return f"{node.field}:{text}" if node.field else text
    if isinstance(node, Range):
        if node.low == node.high:
            return f"{node.field}:{node.low}"
        return f"{node.field}:{node.low if node.low is not None else ''}..{node.high or ''}"
    if isinstance(node, Not):
        return "NOT " + render(node.child, top=False)
    if isinstance(node, And):
        joiner = " " if node.implicit else " AND "
        inner = joiner.join(render(c, top=False) for c in node.children)
        return inner if top else f"({inner})"
    if node.typed:
        name = getattr(node.children[0], "field", None)
        return f"{name}:{node.typed}" if name else node.typed
    inner = " OR ".join(render(c, top=False) for c in node.children)
    return inner if top else f"({inner})"


def _quote(word: str) -> str:
    return f'"{word}"' if word in _OPS else word


def replace_terms(node: Node, corrections: dict[str, str]) -> Node:
    """The tree with some words replaced (for "did you mean")."""
    if isinstance(node, Term) and node.text in corrections:
        return Term(corrections[node.text], node.field, node.prefix)
    if isinstance(node, Not):
        return Not(replace_terms(node.child, corrections))
    if isinstance(node, And):
        return And(tuple(replace_terms(c, corrections) for c in node.children), node.implicit)
    if isinstance(node, Or):
        return Or(tuple(replace_terms(c, corrections) for c in node.children))
    return node


def words_of(node: Node) -> list[str]:
    """Every word a node searches for (none for ranges; an exclusion's words too)."""
    if isinstance(node, Term):
        return [node.text]
    if isinstance(node, Phrase):
        return list(node.words)
    if isinstance(node, Not):
        return words_of(node.child)
    if isinstance(node, And | Or):
        return [w for c in node.children for w in words_of(c)]
    return []


def side_by_side(node: And, stopwords: frozenset[str]) -> tuple[list[Node], list[Node]]:
    """The parts of words written side by side: (wanted, strict).

    Wanted: plain words, phrases, joined words and OR groups, in no field; a document
    needs one of them, and ranks higher the more it has. Stop words are dropped when
    there are other words ("what is known about X" searches for X). Strict: exclusions,
    words in a field, ranges, explicit AND groups: every document must satisfy them.
    """
    wanted: list[Node] = []
    strict: list[Node] = []
    for child in node.children:
        free = isinstance(child, Term | Phrase | Or) and all(
            getattr(leaf, "field", None) is None for leaf in positives(child)
        )
        (wanted if free else strict).append(child)

    def stop(n: Node) -> bool:
        return all(w.casefold() in stopwords for w in words_of(n))

    content = [n for n in wanted if not stop(n)]
    return (content or wanted), strict
