"""The query tree as the queries of one federated Meilisearch search (no server needed).

Meilisearch has no OR between words, no stemming and reads at most ten terms of a `q`
(milli's `words_limit`: a word or a "phrase" is a term; the eleventh and everything after
it, exclusions included, are dropped). So:
- the tree becomes an OR of conjunctions (negations pushed down to the leaves); each
  conjunction is one or more queries of the federated search, whose union is the answer;
- in a conjunction, words written side by side (an implicit AND) are optional: documents
  with every word rank first, then those lacking some. Meilisearch's `matchingStrategy:
  "last"` drops words from the end of `q` but never the first, so a conjunction of
  optional words only runs once per suffix of its words (`a b c`, `b c`, `c`), each
  weighted by its share of the words: together they find every document with any word.
  Where something is required (a phrase, a word of an explicit AND, written as a one-word
  "phrase"), Meilisearch may drop every optional word and one query suffices;
- exclusions (`-word`, `-"phrase"`) come first in `q`, so that the ten-term limit never
  drops them, and apply to the whole document (one Meilisearch document per library
  document);
- only the last word of a `q` can be read as the start of a word, and only when nothing
  follows it: the word marked prefix* (or, failing one, a word no document has, as the
  other engines read it) goes last; otherwise `q` ends with a space, so a plain last word
  is a whole word;
- each query also runs with its words stemmed for each language in use, restricted to
  the documents of that language (`stem_lang`), since documents carry their stemmed
  words beside the text;
- fields, years, types and languages are filters (word lists and values indexed for
  them).
"""

import logging
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from typing import Any

from backend.search.engine import ENGLISH_STOPWORDS, fold, language_codes
from backend.search.query import And, Node, Not, Or, Phrase, Range, Term, positives
from backend.search.tantivy_engine import analyzer

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 10  # milli's words_limit
MAX_CONJUNCTIONS = 8  # a tree that rewrites into more is read as its words, loosely
MAX_QUERIES = 48  # queries of one federated search, stemmed variants included
WORD = re.compile(r"[\w'’]+")
_ALNUM = re.compile(r"[^\W_]+")
WORD_LISTS = {"title": "title_w", "author": "author_w", "subject": "subject_w"}


# --- filter values -----------------------------------------------------------------------


def filter_key(value: str) -> str:
    """A value as stored for filtering: no backslash and no double quote.

    Meilisearch's filter parser unescapes only `\\"` up to some version and every
    backslash escape after it, so a value with a backslash can be written in no way that
    every version reads back. Author and subject filters use these keys (`author_k`,
    `subject_k`), the facet counts the names as written (`author_f`, `subject_f`)."""
    return value.replace("%", "%25").replace("\\", "%5C").replace('"', "%22")


def quote_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f'"{filter_key(value)}"'


def one_of(attribute: str, values: list[str] | list[int]) -> str:
    return f"{attribute} IN [{', '.join(quote_value(v) for v in values)}]"


# --- the tree as conjunctions --------------------------------------------------------------


@dataclass
class Conjunction:
    words: list[Term] = field(default_factory=list)  # required
    optional: list[Term] = field(default_factory=list)  # words written side by side
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    excluded_phrases: list[tuple[str, ...]] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)

    def merge(self, other: "Conjunction") -> "Conjunction":
        return Conjunction(
            self.words + other.words,
            self.optional + other.optional,
            self.phrases + other.phrases,
            self.excluded + other.excluded,
            self.excluded_phrases + other.excluded_phrases,
            self.filters + other.filters,
        )


class TooComplex(Exception):
    """The tree rewrites into more than MAX_CONJUNCTIONS conjunctions."""


def _free(node: Node) -> bool:
    """Free text that stands as optional words: a word, or an OR of words and phrases
    (the parser reads "e-mail" as `"e mail" OR email`), with no field and no NOT. A
    phrase on its own stays required."""
    if isinstance(node, Term):
        return node.field is None
    if isinstance(node, Or):
        return all(_free(c) or (isinstance(c, Phrase) and c.field is None) for c in node.children)
    return False


def _free_words(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Phrase):
        return [Term(w) for w in node.words]
    if isinstance(node, Or):
        return [t for c in node.children for t in _free_words(c)]
    return []


def conjunctions(tree: Node, languages: tuple[str, ...] = ()) -> list[Conjunction]:
    """The tree as an OR of conjunctions (stop words dropped where content words remain);
    `languages`: those in use, whose stems title: filters also accept."""
    try:
        out = _expand(tree, False, languages)
    except TooComplex:
        # Too many combinations for one federated search: every wanted word, optional.
        out = [Conjunction(optional=[t for n in positives(tree) for t in _free_words(n)])]
    for c in out:
        # "what is known about X": X. Never inside a phrase.
        for name in ("words", "optional"):
            terms: list[Term] = getattr(c, name)
            content = [t for t in terms if fold(t.text) not in ENGLISH_STOPWORDS]
            if content:
                setattr(c, name, content)
        seen = {(fold(t.text), t.prefix) for t in c.words}
        optional = []
        for t in c.optional:
            key = (fold(t.text), t.prefix)
            if key not in seen:
                seen.add(key)
                optional.append(t)
        c.optional = optional
    return out


def _expand(node: Node, negated: bool, languages: tuple[str, ...]) -> list[Conjunction]:
    if isinstance(node, Not):
        return _expand(node.child, not negated, languages)
    if isinstance(node, And | Or):
        if isinstance(node, And) == negated:  # OR, or NOT of an AND (an OR of NOTs)
            out = [c for child in node.children for c in _expand(child, negated, languages)]
        else:
            loose = isinstance(node, And) and node.implicit and not negated
            optional = [t for c in node.children if loose and _free(c) for t in _free_words(c)]
            strict = [c for c in node.children if not (loose and _free(c))]
            parts = [_expand(child, negated, languages) for child in strict]
            if math.prod(len(p) for p in parts) > MAX_CONJUNCTIONS:
                raise TooComplex
            out = []
            for combo in product(*parts):
                merged = Conjunction(optional=list(optional))
                for part in combo:
                    merged = merged.merge(part)
                out.append(merged)
        if len(out) > MAX_CONJUNCTIONS:
            raise TooComplex
        return out
    return [_leaf(node, negated, languages)]


def _leaf(node: Node, negated: bool, languages: tuple[str, ...]) -> Conjunction:
    if isinstance(node, Range):
        low, high = node.low, node.high
        if low is not None and high is not None:
            f = f"year {low} TO {high}"
        elif low is not None:
            f = f"year >= {low}"
        elif high is not None:
            f = f"year <= {high}"
        else:
            f = "year EXISTS"
        return Conjunction(filters=[f"NOT ({f})" if negated else f])
    if isinstance(node, Term | Phrase) and node.field:
        f = field_filter(node, languages)
        return Conjunction(filters=[f"NOT ({f})" if negated else f])
    if isinstance(node, Phrase):
        if negated:
            return Conjunction(excluded_phrases=[node.words])
        return Conjunction(phrases=[node.words])
    assert isinstance(node, Term)
    return Conjunction(excluded=[node.text]) if negated else Conjunction(words=[node])


def field_filter(node: Term | Phrase, languages: tuple[str, ...] = ()) -> str:
    name = node.field or ""
    text = node.text if isinstance(node, Term) else " ".join(node.words)
    if name == "type":
        return one_of("type", [fold(text)])
    if name == "language":
        return one_of("language", language_codes(text) or [fold(text)])
    if name == "year":
        return f"year = {int(text)}" if text.isdigit() else "year NOT EXISTS"
    attribute = WORD_LISTS.get(name, "collection_w")
    words = WORD.findall(fold(text)) or [fold(text)]
    parts = []
    for i, w in enumerate(words):
        if isinstance(node, Term) and node.prefix and i == len(words) - 1:
            parts.append(f"{attribute} STARTS WITH {quote_value(w)}")
            continue
        forms = {w}
        if name == "title":  # titles carry their stems in every language in use
            forms |= {stem(lang, w) for lang in languages}
        parts.append(one_of(attribute, sorted(forms)))
    return " AND ".join(parts)


@lru_cache(maxsize=32)
def _analyzer(lang: str) -> Any:
    return analyzer(lang)


@lru_cache(maxsize=4096)
def stem(lang: str, word: str) -> str:
    tokens = _analyzer(lang).analyze(word)
    return str(tokens[0]) if len(tokens) == 1 else fold(word)


# --- conjunctions as Meilisearch queries ----------------------------------------------------


@dataclass
class MeiliQuery:
    """What differs between the queries of one federated search."""

    q: str
    filters: list[str]
    strategy: str  # "all" or "last"
    weight: float = 1.0


def _terms(word: str) -> int:
    """How many query terms Meilisearch makes of a word written plainly ("o'brien": 2)."""
    return max(1, len(_ALNUM.findall(word)))


def _quoted(words: tuple[str, ...] | list[str]) -> str:
    return '"' + " ".join(words) + '"'


class Compiler:
    def __init__(self, languages: list[str], unknown: set[str] | None = None) -> None:
        self.languages = tuple(lang for lang in languages if lang != "plain")
        # Words no document has (asked of the server beforehand): read as the start of
        # a longer word, like the other engines do, when no word is marked prefix*.
        self.unknown = unknown or set()

    def queries(self, tree: Node) -> list[MeiliQuery]:
        """Every query of the federated search the tree becomes."""
        found = conjunctions(tree, self.languages)
        out = [q for c in found for q in self._conjunction(c, chain=True)]
        if len(out) > MAX_QUERIES:
            # Too many: the optional words of each group in one query (a document then
            # needs the first of them), never fewer words.
            out = [q for c in found for q in self._conjunction(c, chain=False)]
        return out

    def _prefix(self, terms: list[Term]) -> Term | None:
        """The one word read as the start of a longer word: the last marked prefix*, else
        the last that no document has."""
        marked = [t for t in terms if t.prefix]
        if marked:
            return marked[-1]
        unknown = [t for t in terms if fold(t.text) in self.unknown]
        return unknown[-1] if unknown else None

    def _conjunction(self, c: Conjunction, chain: bool) -> list[MeiliQuery]:
        phrases = c.phrases
        if len(phrases) > MAX_QUERY_TERMS:
            log.warning("Meilisearch reads ten terms: phrases past the tenth are not required")
            phrases = phrases[:MAX_QUERY_TERMS]
        required: list[Term] = []
        used = len(phrases)
        for t in sorted(c.words, key=lambda t: -len(t.text)):  # the longest are rarest
            if used + _terms(t.text) > MAX_QUERY_TERMS:
                log.warning("Meilisearch reads ten terms: %r is not required", t.text)
                continue
            required.append(t)
            used += _terms(t.text)
        required.sort(key=c.words.index)
        prefix = self._prefix(required + c.optional)
        # The prefix word goes last in `q`, and "last" drops words from the end.
        optional = [t for t in c.optional if t is not prefix]
        optional += [t for t in c.optional if t is prefix]
        room = MAX_QUERY_TERMS - used
        n = len(optional)
        plans: list[tuple[list[Term], float]] = []
        if not n or room <= 0:
            if n:
                log.warning("Meilisearch reads ten terms: the optional words are not searched")
            plans = [([], 1.0)]
        else:
            groups: list[list[Term]] = []
            group: list[Term] = []
            size = 0
            for t in optional:
                if group and size + _terms(t.text) > room:
                    groups.append(group)
                    group, size = [], 0
                group.append(t)
                size += _terms(t.text)
            groups.append(group)
            # A phrase or a required word: Meilisearch may drop every optional word.
            mandatory = used > 0
            for g in groups:
                if mandatory or not chain:
                    plans.append((g, (used + len(g)) / (used + n)))
                else:
                    plans += [(g[k:], len(g[k:]) / n) for k in range(len(g))]
        out = []
        for loose, weight in plans:
            strategy = "last" if loose else "all"
            for q, langs in self._texts(c, phrases, required, loose, prefix, strategy):
                filters = c.filters + ([one_of("stem_lang", langs)] if langs else [])
                out.append(MeiliQuery(q, filters, strategy, round(weight, 4)))
        return out

    def _texts(
        self,
        c: Conjunction,
        phrases: list[tuple[str, ...]],
        required: list[Term],
        loose: list[Term],
        prefix: Term | None,
        strategy: str,
    ) -> list[tuple[str, list[str]]]:
        """The `q` with the words as typed (every document), then with them stemmed, with
        the languages whose stemmer gives that form (only where it differs)."""
        excluded = {fold(e) for e in c.excluded}
        for e in list(excluded):
            excluded |= {stem(lang, e) for lang in self.languages}
        head = [
            # "-o'brien" would exclude "o" and search for "brien": a phrase keeps it whole.
            *(f"-{_quoted([e])}" if _terms(e) > 1 else f"-{e}" for e in sorted(excluded)),
            *(f"-{_quoted(p)}" for p in c.excluded_phrases),
            *(_quoted(p) for p in phrases),
        ]
        terms = required + loose
        if prefix not in terms:
            prefix = None
        # Required words among optional ones are one-word "phrases", which Meilisearch
        # never drops (a required prefix* word cannot be one: it is then optional).
        strict = strategy == "last"

        def render(words: list[str]) -> str:
            parts = list(head)
            last = None
            for t, w in zip(terms, words, strict=True):
                if t is prefix:
                    last = w
                    continue
                must = t in required and (strict or _terms(w) > 1)
                parts.append(_quoted([w]) if must else w)
            if last is not None:
                return " ".join([*parts, last])
            # A trailing space: nothing is read as the start of a word.
            return " ".join(parts) + " " if parts else ""

        typed = [fold(t.text) for t in terms]
        out: list[tuple[str, list[str]]] = [(render(typed), [])]
        variants: dict[str, list[str]] = {}
        for lang in self.languages:
            stemmed = [
                w if t is prefix else stem(lang, w) for t, w in zip(terms, typed, strict=True)
            ]
            if stemmed != typed:
                variants.setdefault(render(stemmed), []).append(lang)
        out += list(variants.items())
        return out
