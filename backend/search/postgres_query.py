"""A query tree as the PostgreSQL engine runs it: an SQL condition on
`search_pg_documents d` (what matches), the words to score by BM25
(backend/search/postgres_bm25.py) and a tsquery for the snippets.

Words written side by side (an implicit And) are all wanted, none required: a document
matches with any of them; the ranking counts how many it has. AND, NOT, -word, phrases,
fields and ranges are strict.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import sql
from backend.search.engine import (
    ENGLISH_STOPWORDS,
    IDEOGRAPHIC,
    fold,
    has_ideographs,
    ideographs_apart,
    language_codes,
)
from backend.search.postgres_bm25 import MASK_BITS, Group
from backend.search.query import And, Node, Not, Or, Phrase, Range, Term, positives
from backend.search.query import side_by_side as _side_by_side
from backend.search.ranking import Ranking

WORD = re.compile(r"\w+", re.UNICODE)
# Each ideographic character set off (engine.IDEOGRAPHIC_RANGES) by engine.APART (U+0001),
# which the parser reads as a space and a snippet drops again: one word per character, in
# the index, the snippets and the words asked (ideographs_apart) alike.
IDEOGRAPHS_APART = "regexp_replace({}, '[" + IDEOGRAPHIC + "]', '\\&' || chr(1), 'g')"
# "<script>" would be read as a markup tag by PostgreSQL's parser, and its word lost. Every
# text the engine makes a tsvector of goes through this.
NO_TAGS = IDEOGRAPHS_APART.format("translate({}, '<>', '  ')")
# A plain match of the text: d.tsv against one tsquery or an OR of them.
_TSV = re.compile(
    r"\(d\.tsv @@ (CAST\(:t\d+ AS tsquery\)|\((CAST\(:t\d+ AS tsquery\)( \|\| )?)+\))\)"
)
# Names, subjects and collection names are matched word for word, never stemmed.
UNSTEMMED_FIELDS = ("author", "subject", "collection")


def tsquery_names(q: str) -> list[str]:
    """The bind names of the tsqueries an expression combines."""
    return re.findall(r":(t\d+) AS tsquery", q)


_BIND = re.compile(r"(?<!:):(\w+)")


async def run(session: AsyncSession, statement: str, params: dict[str, Any]) -> Any:
    """Run a statement with those of `params` it names (bound at execution: binding each
    one to the text() first costs milliseconds for a long query)."""
    names = set(_BIND.findall(statement))
    return await session.exec(
        text(statement),  # type: ignore[call-overload]
        params={k: v for k, v in params.items() if k in names},
    )


@dataclass
class Binds:
    """Bind parameters shared by the pieces of one statement."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"


def _any(conditions: list[str]) -> str:
    """Conditions joined by OR; plain matches of the text as one: `tsv @@ (a || b)` is
    one look in the index and one test of each document, not one per word."""
    plain = [c for c in conditions if _TSV.fullmatch(c)]
    others = [c for c in conditions if not _TSV.fullmatch(c)]
    if len(plain) > 1:
        queries = " || ".join(c[len("(d.tsv @@ ") : -1] for c in plain)
        others.insert(0, f"(d.tsv @@ ({queries}))")
    else:
        others = conditions
    return others[0] if len(others) == 1 else "(" + " OR ".join(others) + ")"


def side_by_side(node: And) -> tuple[list[Node], list[Node]]:
    """(wanted, strict) parts of words side by side, stop words as the parser has them."""
    return _side_by_side(node, ENGLISH_STOPWORDS)


class Compiler:
    """Compiles one tree: `where`, the scored `groups`, and for words side by side at the
    top, whether a document has each (`had`, over the groups it holds)."""

    def __init__(
        self,
        session: AsyncSession,
        binds: Binds,
        configs: list[str],
        every_word_fuzzy: bool,
        r: Ranking,
    ) -> None:
        self.session, self.binds, self.configs, self.r = session, binds, configs, r
        self.every_word_fuzzy = every_word_fuzzy
        self.groups: list[Group] = []
        self.highlights: list[str] = []  # tsqueries of the words searched for
        self.corrections: dict[str, str] = {}
        self.had: list[str] = []  # one per word side by side (none for other queries)
        self.question = False  # a question in many words: feedback reorders it
        # Neighbouring words side by side (their groups): documents where they stand close
        # together rank higher.
        self.pairs: list[tuple[int, int]] = []
        self._leaf_groups: dict[int, list[int]] = {}
        self._alternatives: int | None = None  # the outermost OR being compiled
        # Every tsquery is made once, before the statements that use it, and bound as a
        # constant: made inside them, unaccent() would run again for every document.
        self._made: dict[tuple[str, str, tuple[str, ...]], str] = {}  # -> its bind name
        self._making: dict[str, str] = {}  # bind name -> the SQL that makes it
        self._exists: dict[str, bool] = {}  # bind name -> whether any document has it
        self._forms: dict[str, str] = {}  # bind name -> SQL for its lexemes (plain words)

    @property
    def first(self) -> bool:
        """A few words side by side: the documents with all of them come first."""
        return 1 < len(self.had) <= self.r.every_word_first

    def highlight(self) -> str:
        return "(" + " || ".join(self.highlights) + ")" if self.highlights else ""

    async def compile(self, node: Node) -> str:
        # Whether each plain word is in some document, asked for all of them at once.
        await self._make(self._plain_words(node))
        where = await self._node(node, {id(n) for n in positives(node)})
        await self._make([])
        if isinstance(node, And) and node.implicit:
            wanted, _ = side_by_side(node)
            if len(wanted) > 1:
                self.had = [self._presence(n) or "true" for n in wanted]
            terms = [n for n in wanted if isinstance(n, Term)]
            self.question = self.r.feedback_weight > 0 and len(terms) >= self.r.question_words
            groups = [self._leaf_groups.get(id(t)) for t in terms]
            self.pairs = [
                (a[0], b[0])
                for a, b in zip(groups, groups[1:], strict=False)
                if a and b and len(a) == 1 and len(b) == 1
            ]
        return where

    def _presence(self, node: Node) -> str | None:
        """Whether a document has `node`, over the groups it holds: `s.mask` (a bit for
        each of the first 63), `s.gs` (the others). None: its words cannot tell."""
        if isinstance(node, Term | Phrase):
            groups = self._leaf_groups.get(id(node))
            if groups is None:
                return None
            if not groups:
                return "false"
            # A phrase's words all there: near enough to tell documents apart by it.
            every = isinstance(node, Phrase)
            if max(groups) < MASK_BITS:
                bits = sum(1 << g for g in groups)
                return f"((s.mask & {bits}) {'=' if every else '<>'} {bits if every else 0})"
            ids = "ARRAY[" + ", ".join(map(str, groups)) + "]"
            return f"(s.gs {'@>' if every else '&&'} {ids})"
        if isinstance(node, Or) or (isinstance(node, And) and node.implicit):
            kids = side_by_side(node)[0] if isinstance(node, And) else list(node.children)
            parts = [self._presence(c) for c in kids]
            if any(p is None for p in parts):
                return None
            return "(" + " OR ".join(p for p in parts if p) + ")"
        if isinstance(node, And):
            known = [p for c in node.children if (p := self._presence(c)) is not None]
            return "(" + " AND ".join(known) + ")" if known else None
        return None

    async def _node(self, node: Node, positive: set[int]) -> str:
        if isinstance(node, Term):
            return await self._term(node, id(node) in positive)
        if isinstance(node, Phrase):
            return self._phrase(node, id(node) in positive)
        if isinstance(node, Range):
            parts = []
            if node.low is not None:
                parts.append(f"d.year >= {self.binds.bind(node.low)}")
            if node.high is not None:
                parts.append(f"d.year <= {self.binds.bind(node.high)}")
            return "(" + " AND ".join(parts or ["true"]) + ")"
        if isinstance(node, Not):
            return f"NOT coalesce({await self._node(node.child, positive)}, false)"
        if isinstance(node, Or):
            outer = self._alternatives
            self._alternatives = outer if outer is not None else id(node)
            kids = [await self._node(c, positive) for c in node.children]
            self._alternatives = outer
            return _any(kids)
        if not node.implicit:
            musts = [await self._node(c, positive) for c in node.children]
            return "(" + " AND ".join(musts) + ")"
        wanted, strict = side_by_side(node)
        musts = [await self._node(c, positive) for c in strict]
        if wanted:
            musts.append(_any([await self._node(c, positive) for c in wanted]))
        return "(" + " AND ".join(musts or ["true"]) + ")"

    def _tsquery(self, function: str, value: str, configs: list[str] | None = None) -> str:
        """A tsquery in every configuration in use, as a constant of the statement."""
        key = (function, value, tuple(configs or self.configs))
        name = self._made.get(key)
        if name is None:
            name = self._made[key] = f"t{len(self._made)}"
            bound = self.binds.bind(value)
            parts = [f"{function}('{cfg}', unaccent({bound}))" for cfg in key[2]]
            self._making[name] = "(" + " || ".join(parts) + ")"
            if function == "plainto_tsquery":  # its lexemes, to ask whether any is indexed
                forms = [
                    f"tsvector_to_array(to_tsvector('{c}', unaccent({bound})))" for c in key[2]
                ]
                self._forms[name] = "(" + " || ".join(forms) + ")"
        return f"CAST(:{name} AS tsquery)"

    def _plain_words(self, node: Node) -> list[str]:
        """The tsqueries of the words that may need their near spellings."""
        if isinstance(node, Term):
            word = " ".join(WORD.findall(node.text))
            phrase = has_ideographs(node.text)  # (a phrase of its characters, never near)
            if node.field is None and not node.prefix and not phrase and len(word) >= 3:
                return [self._tsquery("plainto_tsquery", word)]
            return []
        if isinstance(node, Not):
            return self._plain_words(node.child)
        if isinstance(node, And | Or):
            return [q for c in node.children for q in self._plain_words(c)]
        return []

    async def _make(self, asked: list[str]) -> None:
        """Make the tsqueries not made yet (one statement), and tell whether any document
        has each of `asked`."""
        todo = {n: e for n, e in self._making.items() if n not in self.binds.params}
        if not todo:
            return
        check = {n for q in asked for n in tsquery_names(q)}
        rows = ", ".join(
            f"('{n}', {e}, {self._forms[n] if n in check else 'CAST(NULL AS text[])'})"
            for n, e in todo.items()
        )
        # Whether a word is in some document, from the lexemes' document frequencies (one
        # probe of an index each), never by a scan of the documents.
        made = await run(
            self.session,
            f"""
                SELECT v.name, CAST(v.q AS text), EXISTS (
                    SELECT 1 FROM search_pg_lexemes l WHERE l.lexeme = ANY(v.forms))
                FROM (VALUES {rows}) AS v(name, q, forms)
                """,
            self.binds.params,
        )
        for name, value, exists in made.all():
            self.binds.params[name] = value
            self._exists[name] = bool(exists)

    def _score(self, leaf: Node, tsqueries: list[str], field_name: str | None) -> None:
        """Score the leaf's words by BM25 (words in the text or the title only)."""
        if field_name not in (None, "title"):
            return
        first = len(self.groups)
        self.groups += [
            Group(tsquery=q, title_only=field_name == "title", alternatives=self._alternatives)
            for q in tsqueries
        ]
        self._leaf_groups[id(leaf)] = list(range(first, len(self.groups)))

    async def _term(self, term: Term, positive: bool) -> str:
        if term.field == "language":
            codes = [term.text.lower(), *language_codes(term.text)]
            return f"d.language = ANY({self.binds.bind(codes)})"
        if term.field == "type":
            return f"d.type = {self.binds.bind(term.text.lower())}"
        apart = ideographs_apart(term.text)
        word = " ".join(WORD.findall(apart))
        if not word:
            return "false"
        configs = ["simple"] if term.field in UNSTEMMED_FIELDS else None
        if term.prefix:
            lexemes = WORD.findall(fold(apart))
            q = self._tsquery("to_tsquery", " <-> ".join(lexemes) + ":*", configs)
        elif apart != term.text:  # Chinese or Japanese: the phrase of its characters
            q = self._tsquery("phraseto_tsquery", word, configs)
        elif configs:
            q = self._tsquery("plainto_tsquery", word, configs)
        else:
            q = self._tsquery("plainto_tsquery", word)
            if (
                term.field is None
                and len(word) >= 3
                and (self.every_word_fuzzy or not self._has(q))
            ):
                q = await self._near(term, q)
        if positive:
            self._score(term, [q], term.field)
        return self._where(term.field, q, positive)

    def _phrase(self, phrase: Phrase, positive: bool) -> str:
        words = [" ".join(WORD.findall(ideographs_apart(w))) for w in phrase.words]
        words = [w for w in words if w]
        configs = ["simple"] if phrase.field in UNSTEMMED_FIELDS else None
        q = self._tsquery("phraseto_tsquery", " ".join(words), configs)
        if positive and phrase.field in (None, "title"):
            self._score(phrase, [self._tsquery("plainto_tsquery", w) for w in words], phrase.field)
        return self._where(phrase.field, q, positive)

    def _where(self, field_name: str | None, q: str, positive: bool) -> str:
        if field_name in ("author", "subject"):
            column = f"d.{field_name}s"  # q was built with the simple configuration
            return (
                f"(d.tsv @@ {q} AND EXISTS (SELECT 1 FROM unnest({column}) x "
                f"WHERE to_tsvector('simple', unaccent({NO_TAGS.format('x')})) @@ {q}))"
            )
        if field_name == "collection":
            return f"(to_tsvector('simple', unaccent({NO_TAGS.format('d.collection')})) @@ {q})"
        if positive:
            self.highlights.append(q)
        if field_name == "title":
            return (
                f"(d.tsv @@ {q} AND to_tsvector(CAST(d.config AS regconfig), "
                f"unaccent({NO_TAGS.format('d.title')})) @@ {q})"
            )
        return f"(d.tsv @@ {q})"

    def _has(self, q: str) -> bool:
        return any(self._exists.get(n, False) for n in tsquery_names(q))

    async def _near(self, term: Term, q: str) -> str:
        """A word no document has (or a second look): its completions and near spellings."""
        word = fold(term.text)
        lexemes = WORD.findall(word)
        if len(lexemes) != 1:
            return q
        own = await sql(
            self.session,
            text("SELECT coalesce(max(ndoc), 0) FROM search_pg_words WHERE word = :w").bindparams(
                w=word
            ),
        )
        own_n = int(own.one()[0])
        starts = await sql(
            self.session,
            text(
                "SELECT word FROM search_pg_words WHERE word LIKE :p AND word <> :w "
                "ORDER BY ndoc DESC, length(word) LIMIT 1"
            ).bindparams(p=word.replace("%", "").replace("_", "") + "%", w=word),
        )
        # The planner prices a trigram match as cheap and reads the whole vocabulary
        # (30 ms for a long word at 19,000 words); the trigram index answers in 2-5 ms.
        await sql(self.session, text("SET LOCAL enable_seqscan = off"))
        try:
            near = await sql(
                self.session,
                text(
                    "SELECT word FROM search_pg_words WHERE word % :w AND word <> :w "
                    "AND ndoc > :own * 5 ORDER BY similarity(word, :w) DESC, ndoc DESC LIMIT 2"
                ).bindparams(w=word, own=own_n),
            )
        finally:
            await sql(self.session, text("RESET enable_seqscan"))
        completion = [w for (w,) in starts.all()]
        similar = [w for (w,) in near.all()]
        if completion and not own_n:
            self.corrections[term.text] = completion[0]
        elif similar:
            self.corrections[term.text] = similar[0]
        parts = [q, self._tsquery("to_tsquery", lexemes[0] + ":*")]
        parts += [self._tsquery("plainto_tsquery", w) for w in similar]
        return "(" + " || ".join(parts) + ")"
