"""The default engine on one machine: tantivy, a Lucene-class index in the data folder.

Only the indexer (in a worker) writes; web processes open the same folder read-only and
pick up each commit. Ranking (backend/search/ranking.py, shared with the other engines)
is BM25 over the whole record (body_* hold the body, then the title, description, authors
and subjects), plus the word's BM25 in its best named field (title, description, people)
at that field's weight, per-language stemmed; a bonus for each word of the query
a document has (every word first for a short query), a bonus when the words stand close
together, and feedback for long questions. Words the index has never seen are matched
fuzzily and offered as "did you mean".
"""

import asyncio
import bisect
import json
import logging
import math
import os
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import tantivy
from rapidfuzz import fuzz, process

from backend.search import ranking
from backend.search.engine import (
    APART,
    ENGLISH_STOPWORDS,
    FACETS,
    LIKE_MIN_SHARE,
    LIKE_MIN_WORD,
    LIKE_TERMS,
    SNIPPET_CHARS,
    SNOWBALL_LANGUAGES,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    has_ideographs,
    ideographs_apart,
    language_codes,
    like_max_documents,
    sort_title,
    split_segments,
    starts_a_word,
)
from backend.search.query import (
    And,
    Node,
    Not,
    Or,
    Phrase,
    Range,
    Term,
    positives,
    replace_terms,
    side_by_side,
    words_of,
)

log = logging.getLogger(__name__)

# A hit's words that begin as a word* of the query does, marked in its snippet (at most).
PREFIX_MARKED = 16
SCHEMA_VERSION = 7  # a new folder (and a rebuild) whenever the fields or their text change
# ISO 639-1 code -> tantivy stemmer; other languages get the plain analyzer.
STEMMERS = SNOWBALL_LANGUAGES
LANGS = ("plain", *sorted(set(STEMMERS) - {"nb"}))
# Added to documents that have every word of a short query: above any BM25 score, so they
# come first.
EVERY_WORD_BONUS = 1000.0
# "More like this" reads the start of a document's text (a book's first pages say what it
# is about; reading all of it, once per language in the index, would not be quick).
LIKE_TEXT_CHARS = 20_000
SPELL_CHARS = 20_000  # of each body, for did-you-mean
MAX_BODY_CHARS = 5_000_000  # a long book; the rest of a longer text is not searchable
WRITER_HEAP = 256_000_000
MAX_COLLECTIONS_LISTED = 10_000  # beyond this, a search names the visible collections
MISSING = -1  # the year of a document without one (facets skip it)
FACET_FIELDS = {
    "collection": "collection_id",
    "author": "author_f",
    "subject": "subject_f",
    "year": "year",
    "type": "type",
    "language": "language",
}


def _terms(tokens: list[str]) -> list[str | tuple[int, str]]:
    """Tokens as tantivy's phrase queries take them (each may also carry its position)."""
    return list(tokens)


def stem_language(code: str) -> str:
    code = (code or "").lower()
    if code == "nb":
        code = "no"
    return code if code in STEMMERS else "plain"


def analyzer(lang: str) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
    )
    if lang != "plain":
        builder = builder.filter(tantivy.Filter.stemmer(STEMMERS[lang]))
    return builder.filter(tantivy.Filter.ascii_fold()).build()


class Analyzer:
    """A language's analysis of the texts the index is given and asked, each of its Chinese
    characters and kana first set apart by APART (engine.IDEOGRAPHIC_RANGES), which the
    simple tokenizer takes for a space: one word per character. (A regex tokenizer would
    read them so by itself, but costs indexing twice the time; setting them apart costs
    nothing for a text without them.)"""

    def __init__(self, lang: str) -> None:
        self.tantivy = analyzer(lang)

    def analyze(self, text: str) -> list[str]:
        return self.tantivy.analyze(ideographs_apart(text, APART))


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("collection_id", indexed=True, fast=True)
    for lang in LANGS:
        sb.add_text_field(f"title_{lang}", tokenizer_name=f"lib_{lang}")
        sb.add_text_field(f"description_{lang}", tokenizer_name=f"lib_{lang}")
        sb.add_text_field(f"body_{lang}", stored=True, tokenizer_name=f"lib_{lang}")
    sb.add_text_field("people", tokenizer_name="lib_plain")  # authors and subjects
    sb.add_text_field("author", tokenizer_name="lib_plain")
    sb.add_text_field("subject", tokenizer_name="lib_plain")
    sb.add_text_field("collection", tokenizer_name="lib_plain")
    # The library's words as written, for "did you mean" (which documents, not where).
    sb.add_text_field("spell", tokenizer_name="lib_plain", index_option="basic")
    # Facet values, exact: indexed for filters, fast for counts.
    for name in ("author_f", "subject_f", "type", "language"):
        sb.add_text_field(
            name, stored=name in ("type", "language"), fast=True, tokenizer_name="raw"
        )
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("date_key", fast=True)
    sb.add_text_field("title_sort", fast=True, tokenizer_name="raw")
    sb.add_text_field("page_ends", stored=True, tokenizer_name="raw")
    return sb.build()


POINTER = "current"


class TantivyEngine:
    name = "tantivy"

    def __init__(self, folder: Path, fixed: str = "") -> None:
        # The live index is the folder `current` names (a rebuild writes a new folder
        # beside it and then changes `current`: every process sees the change at its next
        # search), else v{SCHEMA_VERSION}. `fixed`: always that folder (a rebuild's).
        self.root, self.fixed = folder, fixed
        self.folder = folder / (fixed or f"v{SCHEMA_VERSION}")
        self.schema = _schema()
        self.analyzers = {lang: Analyzer(lang) for lang in LANGS}
        self._index: tantivy.Index | None = None
        self._meta_mtime = 0.0
        # The analyzers in use, for one generation.
        self._langs: tuple[int, tuple[str, ...]] | None = None
        self._lock = threading.Lock()  # one writer at a time
        # The reader changes state only when this engine reloads it (reload policy
        # Manual), each time under `_reader_lock` and with a new generation: a searcher
        # and its generation, taken together, name one state of the index.
        self._reader_lock = threading.RLock()
        self._generation = 0
        # The collections in the index and their documents, for one generation.
        self._present: tuple[int, dict[int, int] | None] | None = None
        # Spelling corrections of one generation: a misspelt word costs a walk of the
        # dictionary once, not on every search.
        self._spelling: tuple[int, dict[str, str | None]] = (0, {})

    # --- opening and reloading -------------------------------------------------------

    def _live_folder(self) -> Path:
        if self.fixed:
            return self.root / self.fixed
        try:
            name = (self.root / POINTER).read_text().strip()
        except FileNotFoundError:
            name = ""
        if name.startswith(f"v{SCHEMA_VERSION}.") and (self.root / name / "meta.json").exists():
            return self.root / name
        return self.root / f"v{SCHEMA_VERSION}"

    def _open(self) -> tantivy.Index:
        live = self._live_folder()
        if live != self.folder:  # a rebuild switched the index: open the new one
            with self._reader_lock:
                self.folder, self._index, self._meta_mtime = live, None, 0.0
        if self._index is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(self.schema, path=str(self.folder))
            for lang, analysis in self.analyzers.items():
                index.register_tokenizer(f"lib_{lang}", analysis.tantivy)
            index.config_reader("Manual", 0)
            self._index = index
        return self._index

    def _reload(self, index: tantivy.Index) -> None:
        """See the index's last commit (the caller holds `_reader_lock`)."""
        index.reload()
        self._generation += 1
        self._langs = None
        self._spelling = (self._generation, {})
        self._present = None

    def prepare(self) -> bool:
        """Create the index folder if it is missing; True when it was (it needs filling).

        Folders of older schema versions are removed.
        """
        fresh = not (self._live_folder() / "meta.json").exists()
        self._open()
        for old in self.root.glob("v*"):
            if old != self.folder and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return fresh

    def _searcher(self) -> tantivy.Searcher:
        return self._snapshot()[0]

    def _snapshot(self) -> tuple[tantivy.Searcher, int]:
        """A searcher on the index as it stands, and the generation of that state."""
        index = self._open()
        meta = self.folder / "meta.json"
        try:
            mtime = meta.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        with self._reader_lock:
            if mtime != self._meta_mtime:  # another process committed: see it
                self._reload(index)
                self._meta_mtime = mtime
            return index.searcher(), self._generation

    def _languages(self, searcher: tantivy.Searcher, generation: int) -> tuple[str, ...]:
        """The analyzers in use in this state of the index: a query only looks in the
        fields that hold documents. Kept for its generation only: a search still on an
        older state must not leave its languages for a newer one (whose first German
        document would go unsearched until the next change)."""
        cached = self._langs
        if cached is not None and cached[0] == generation:
            return cached[1]
        used = searcher.aggregate(
            tantivy.Query.all_query(), {"l": {"terms": {"field": "language", "size": 200}}}
        )
        codes = {stem_language(b["key"]) for b in used["l"]["buckets"]}
        langs = tuple(sorted(codes | {"plain"}))
        with self._reader_lock:
            if self._generation == generation:
                self._langs = (generation, langs)
        return langs

    def _corrections(self, generation: int) -> dict[str, str | None]:
        """The spelling corrections found in this state of the index (a fresh, unkept
        table for a search still on an older one)."""
        with self._reader_lock:  # (each reload starts its generation's table)
            kept, known = self._spelling
        return known if kept == generation else {}

    # --- writing ---------------------------------------------------------------------

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        await asyncio.to_thread(self._apply, upserts, deletes)

    def _apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        with self._lock:
            index = self._open()
            writer = index.writer(WRITER_HEAP, 1)
            try:
                for doc_id in {*deletes, *(d.document_id for d in upserts)}:
                    writer.delete_documents_by_term("id", doc_id)
                for doc in upserts:
                    writer.add_document(self._document(doc))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()
            with self._reader_lock:
                self._reload(index)

    def _document(self, d: IndexDoc) -> tantivy.Document:
        lang = stem_language(d.language)
        body, ends = "", []
        for page in d.pages:
            if len(body) >= MAX_BODY_CHARS:
                break
            # (stored so: the snippets' offsets and the pages' ends are in this text)
            body += ideographs_apart(page, APART)[: MAX_BODY_CHARS - len(body)] + "\n\n"
            ends.append(len(body))
        # The texts to analyze, their ideographs set apart as the analyzers' are (Analyzer).
        title, description, collection = (
            ideographs_apart(t, APART) for t in (d.title, d.description, d.collection)
        )
        authors = [ideographs_apart(a, APART) for a in d.authors]
        subjects = [ideographs_apart(s, APART) for s in d.subjects]
        added = int(d.added.timestamp()) if d.added else 0
        year = d.year if d.year is not None else (d.added.year if d.added else 0)
        fields: dict[str, Any] = {
            "id": d.document_id,
            "collection_id": d.collection_id,
            f"title_{lang}": title,
            f"description_{lang}": description,
            # The whole record, scored as one text (BM25 over all of it: one length,
            # one document frequency); the body first, so that it is what is shown.
            f"body_{lang}": [body, title, description, *authors, *subjects],
            "people": [*authors, *subjects],
            "author": authors,
            "subject": subjects,
            "collection": collection,
            "spell": " ".join([title, *authors, *subjects, body[:SPELL_CHARS]]),
            "author_f": d.authors,
            "subject_f": d.subjects,
            "type": d.type or "other",
            "language": d.language or "und",
            "year": d.year if d.year is not None else MISSING,
            "date_key": year * 10_000_000_000 + added % 10_000_000_000,
            "title_sort": sort_title(d.title)[:200] or "~",
            "page_ends": json.dumps(ends),
        }
        doc = tantivy.Document()
        for name, value in fields.items():
            for i, v in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(v, str) and not v and not (i == 0 and name.startswith("body_")):
                    continue
                if isinstance(v, int):
                    doc.add_integer(name, v)
                else:
                    doc.add_text(name, v)
        return doc

    async def build_beside(self) -> "_TantivyBuild":
        return _TantivyBuild(self)

    async def clear(self) -> None:
        def clear() -> None:
            with self._lock:
                writer = self._open().writer(WRITER_HEAP, 1)
                writer.delete_all_documents()
                writer.commit()
                writer.wait_merging_threads()
                with self._reader_lock:
                    self._reload(self._open())

        await asyncio.to_thread(clear)

    async def complete(self, text: str, collections: list[int] | None, limit: int) -> Completions:
        return await asyncio.to_thread(self.complete_now, text, collections, limit)

    def complete_now(self, text: str, collections: list[int] | None, limit: int) -> Completions:
        words = text.split()
        if not words:
            return Completions()
        searcher, generation = self._snapshot()
        scope = self._scope(searcher, generation, collections)

        def starting(fields: list[tuple[str, str]]) -> tantivy.Query | None:
            clauses = []
            for field, lang in fields:
                tokens = [t for w in words for t in self.analyzers[lang].analyze(w)]
                if tokens:
                    q = tantivy.Query.phrase_prefix_query(self.schema, field, _terms(tokens))
                    clauses.append((tantivy.Occur.Should, q))
            return tantivy.Query.boolean_query(clauses) if clauses else None

        out = Completions()
        titles = starting(
            [(f"title_{lang}", lang) for lang in self._languages(searcher, generation)]
        )
        if titles is not None:
            found = searcher.search(self._all([q for q in (titles, scope) if q]), limit)
            addresses = [a for _, a in found.hits]
            if addresses:
                ids = searcher.fast_field_values("id", addresses)
                out.documents = [i for i in ids if isinstance(i, int)]
        for kind, field in (("authors", "author"), ("subjects", "subject")):
            q = starting([(field, "plain")])
            if q is None:
                continue
            agg = {"f": {"terms": {"field": f"{field}_f", "size": limit * 4}}}
            buckets = searcher.aggregate(self._all([x for x in (q, scope) if x]), agg)
            names = [str(b["key"]) for b in buckets["f"]["buckets"]]
            # A document's other authors come along: keep the names that fit the words.
            fitting = [n for n in names if all(starts_a_word(n, w) for w in words)]
            setattr(out, kind, fitting[:limit])
        return out

    async def count(self) -> int:
        return await asyncio.to_thread(lambda: self._searcher().num_docs)

    # --- searching -------------------------------------------------------------------

    async def similar(
        self, document_id: int, collections: list[int] | None, limit: int
    ) -> list[int]:
        return await asyncio.to_thread(self.similar_now, document_id, collections, limit)

    def similar_now(self, document_id: int, collections: list[int] | None, limit: int) -> list[int]:
        """Lucene's MoreLikeThis, by the index's own statistics: the document's stored
        text (with its title, names and subjects), its start, read by every language
        analyzer in the index (a document whose language was found otherwise holds its
        words under another field); each term weighed tf × idf; the best LIKE_TERMS asked
        for, each boosted by its weight. (Not tantivy's MoreLikeThisQuery: it panics once
        the index holds deleted documents, whose terms it still counts, tantivy#2964.)"""
        searcher, generation = self._snapshot()
        itself = tantivy.Query.term_query(self.schema, "id", document_id)
        found = searcher.search(itself, 1).hits
        if not found:
            return []
        stored = searcher.doc(found[0][1]).to_dict()
        values = [v for f, vs in stored.items() if f.startswith("body_") for v in vs]
        text = " ".join(str(v) for v in values)[:LIKE_TEXT_CHARS]
        library = max(searcher.num_docs, 1)
        most = like_max_documents(library)
        scored: list[tuple[float, str, str]] = []
        for lang in self._languages(searcher, generation):
            counts: dict[str, int] = {}
            for t in self._content_words(lang, text):
                counts[t] = counts.get(t, 0) + 1
            for t, tf in counts.items():
                df = searcher.doc_freq(f"body_{lang}", t)
                if 2 <= df <= most:
                    scored.append((tf * math.log(1 + max(library, df) / df), lang, t))
        scored.sort(reverse=True)
        chosen = scored[:LIKE_TERMS]
        if not chosen:
            return []
        like = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, q) for q in self._weighed_terms(chosen, 1.0)]
        )
        scope = self._scope(searcher, generation, collections)
        clauses = [(tantivy.Occur.Must, like), (tantivy.Occur.MustNot, itself)]
        if scope is not None:
            clauses.append((tantivy.Occur.Must, scope))
        hits = searcher.search(tantivy.Query.boolean_query(clauses), limit).hits
        hits = [(score, a) for score, a in hits if score >= hits[0][0] * LIKE_MIN_SHARE]
        if not hits:
            return []
        addresses = [address for _, address in hits]
        return [i for i in searcher.fast_field_values("id", addresses) if isinstance(i, int)]

    async def search(self, query: EngineQuery) -> EngineResult:
        return await asyncio.to_thread(self.search_now, query)

    def search_now(self, query: EngineQuery) -> EngineResult:
        searcher, generation = self._snapshot()
        compiler = _Compiler(self, searcher, generation)
        text_query = compiler.compile(query.tree) if query.tree is not None else None
        scope = self._scope(searcher, generation, query.collections)
        if query.within is not None:
            chosen = tantivy.Query.term_set_query(self.schema, "id", query.within)
            scope = self._all([q for q in (scope, chosen) if q is not None])
        filters = {f: self._filter(f, v) for f, v in query.filters.items() if v and f in FACETS}
        musts = [q for q in (text_query, scope, *filters.values()) if q is not None]
        full = self._all(musts)
        # The documents with every word first (a count): when a short query has none, the
        # second look below is certain, and the first ranking would be thrown away.
        every_word = self._every_word(searcher, compiler, scope, filters)
        # The second look searches near spellings of the words the first looked for as
        # spelt; with none (every word unknown, so already looked for so), it would ask
        # the same again.
        second_look = compiler.exact_words > 0
        hits: list[tuple[float, int, tantivy.DocAddress]] = []
        if every_word == 0 and compiler.short and second_look:
            total = 0
        else:
            total, hits = self._top(searcher, full, query)
        if (
            query.tree is not None
            and second_look
            and (total == 0 or (every_word == 0 and compiler.short))
        ):
            # Nothing, or no document with all of a few words: perhaps some are rare
            # misspellings that some documents share ("libary"). Look again with near
            # spellings of every word.
            compiler = _Compiler(self, searcher, generation, every_word_fuzzy=True)
            text_query = compiler.compile(query.tree)
            full = self._all([q for q in (text_query, scope, *filters.values()) if q])
            total, hits = self._top(searcher, full, query)
            every_word = self._every_word(searcher, compiler, scope, filters)
        if text_query is not None and query.sort == "relevance" and compiler.is_question:
            extra = self._related_words(searcher, compiler, full, hits if not query.offset else [])
            if extra:
                expanded = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, full), *((tantivy.Occur.Should, q) for q in extra)]
                )
                total, hits = self._top(searcher, expanded, query)
        result = EngineResult(total=total, every_word=every_word)
        if compiler.corrections:
            result.suggestion = compiler.suggestion(query.tree)
        if hits and text_query is not None and query.snippets:
            result.hits = self._highlight(searcher, compiler, text_query, hits, query.tree)
        else:
            result.hits = [EngineHit(document_id=d, score=s) for s, d, _ in hits]
        if query.facets:
            matching = compiler.matching if compiler.matching is not None else text_query
            # A query that looks for near spellings costs tens of milliseconds to run again
            # at a million documents: with every matching document in hand (a rare word,
            # a misspelling), the facets are counted over those documents instead (about
            # half a millisecond more than a plain word's query, so only then).
            found = None
            if compiler.near_words and not query.offset and total <= len(hits):
                found = tantivy.Query.term_set_query(self.schema, "id", [d for _, d, _ in hits])
            result.facets = self._facets(
                searcher, [matching, scope], filters, query.facet_size, found
            )
        return result

    def _every_word(
        self,
        searcher: tantivy.Searcher,
        compiler: "_Compiler",
        scope: tantivy.Query | None,
        filters: dict[str, tantivy.Query],
    ) -> int | None:
        """How many documents have every wanted word (None: the query has one or none)."""
        if compiler.every_word is None:
            return None
        q = self._all([compiler.every_word, *(q for q in (scope, *filters.values()) if q)])
        found = searcher.search(q, 1, count=True)
        return int(found.count or 0)  # type: ignore[attr-defined]

    def _facets(
        self,
        searcher: tantivy.Searcher,
        base: list[tantivy.Query | None],
        filters: dict[str, tantivy.Query],
        size: int,
        found: tantivy.Query | None = None,
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts for every facet. A facet with a selection ignores its own selection, so
        its other values stay choosable (several values of one facet are OR-ed); all the
        others share one pass over the matching documents (`found`, when given: those
        very documents, the base and every filter's)."""
        out: dict[str, list[tuple[str, int]]] = {}
        shared = [f for f in FACETS if f not in filters]
        if shared:
            q = found or self._all([q for q in (*base, *filters.values()) if q is not None])
            out.update(self._aggregate(searcher, q, shared, size))
        for facet in filters:
            others = [q for f, q in filters.items() if f != facet]
            q = self._all([q for q in (*base, *others) if q is not None])
            out.update(self._aggregate(searcher, q, [facet], size))
        return {f: out[f] for f in FACETS}

    def _related_words(
        self,
        searcher: tantivy.Searcher,
        compiler: "_Compiler",
        full: tantivy.Query,
        hits: list[tuple[float, int, Any]],
    ) -> list[tantivy.Query]:
        """Pseudo-relevance feedback for a question in many words: the words that stand
        out in the best few matches (frequent there, rare in the library) are added as
        optional words, so documents about the same thing in other words rank higher.
        The set of documents found does not change, only their order."""
        if not hits:
            hits = self._top(searcher, full, EngineQuery(tree=None, collections=None))[1]
        r = ranking.current("tantivy")
        top = hits[: r.feedback_docs]
        if len(top) < 2:
            return []
        best = top[0][0] or 1.0
        weights: dict[tuple[str, str], float] = {}
        asked = compiler.asked_tokens
        for score, _, address in top:
            stored = searcher.doc(address)
            for lang in compiler.langs:
                # The whole record (body, then title, description, names), as PostgreSQL's
                # feedback reads it from its postings.
                record = " ".join(stored.get_all(f"body_{lang}"))
                if not record.strip():
                    continue
                tokens = [
                    t
                    for t in self._content_words(lang, record[: r.feedback_chars])
                    if t not in asked
                ]
                if not tokens:
                    continue
                share = (score / best) ** r.feedback_focus / len(tokens)
                for t in tokens:
                    weights[(lang, t)] = weights.get((lang, t), 0.0) + share
        n = max(searcher.num_docs, 1)
        scored = []
        for (lang, t), w in weights.items():
            df = searcher.doc_freq(f"body_{lang}", t)
            if df < 2:
                continue
            scored.append((w * math.log(n / df), lang, t))
        scored.sort(reverse=True)
        chosen = scored[: r.feedback_words]
        return self._weighed_terms(chosen, r.feedback_weight)

    def _content_words(self, lang: str, text: str) -> list[str]:
        """The text's terms as the language's field holds them, without short words,
        numbers and stop words (what more-like-this and relevance feedback weigh)."""
        return [
            t
            for t in self.analyzers[lang].analyze(text)
            if (len(t) >= LIKE_MIN_WORD or has_ideographs(t))
            and not t.isdigit()
            and t not in ENGLISH_STOPWORDS
        ]

    def _weighed_terms(
        self, chosen: list[tuple[float, str, str]], scale: float
    ) -> list[tantivy.Query]:
        """(weight, language, term), best first, as term queries boosted by their weight
        relative to the best one's, times `scale`."""
        if not chosen:
            return []
        top_weight = chosen[0][0]
        return [
            tantivy.Query.boost_query(
                tantivy.Query.term_query(self.schema, f"body_{lang}", t), scale * w / top_weight
            )
            for w, lang, t in chosen
        ]

    def _all(self, musts: list[tantivy.Query]) -> tantivy.Query:
        if not musts:
            return tantivy.Query.all_query()
        if len(musts) == 1:
            return musts[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in musts])

    def _scope(
        self, searcher: tantivy.Searcher, generation: int, collections: list[int] | None
    ) -> tantivy.Query | None:
        """The documents of the collections the actor may see (None: every document).

        Said the cheap way round: when every collection in the index is visible (a
        visitor in a library of public collections), no condition; when the hidden ones
        hold fewer documents than the visible ones, "not in those"; otherwise "in these".
        A set of collections costs a pass over their documents on every search (5 ms for
        a million), a missing condition nothing."""
        if collections is None:
            return None
        if not collections:
            return tantivy.Query.empty_query()
        present = self._collections_present(searcher, generation)
        if present is None:
            return tantivy.Query.term_set_query(self.schema, "collection_id", collections)
        wanted = set(collections)
        shown = [c for c in present if c in wanted]
        hidden = [c for c in present if c not in wanted]
        if not shown:
            return tantivy.Query.empty_query()
        if not hidden:
            return None
        if sum(present[c] for c in hidden) >= sum(present[c] for c in shown):
            return tantivy.Query.term_set_query(self.schema, "collection_id", shown)
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.all_query()),
                (
                    tantivy.Occur.MustNot,
                    tantivy.Query.term_set_query(self.schema, "collection_id", hidden),
                ),
            ]
        )

    def _collections_present(
        self, searcher: tantivy.Searcher, generation: int
    ) -> dict[int, int] | None:
        """Each collection with documents in this state of the index, and how many it
        has; None when they are too many to list (or do not add up to every document)."""
        cached = self._present
        if cached is not None and cached[0] == generation:
            return cached[1]
        agg = {"c": {"terms": {"field": "collection_id", "size": MAX_COLLECTIONS_LISTED}}}
        buckets = searcher.aggregate(tantivy.Query.all_query(), agg)["c"]["buckets"]
        counts = {int(b["key"]): int(b["doc_count"]) for b in buckets}
        # Some left out (None): a search names the visible collections instead.
        present = counts if sum(counts.values()) == searcher.num_docs else None
        with self._reader_lock:
            if self._generation == generation:
                self._present = (generation, present)
        return present

    def _filter(self, facet: str, values: list[str]) -> tantivy.Query:
        if facet in ("collection", "year"):
            field = "collection_id" if facet == "collection" else "year"
            numbers = [int(v) for v in values if v.lstrip("-").isdigit()]
            if not numbers:
                return tantivy.Query.empty_query()
            return tantivy.Query.term_set_query(self.schema, field, numbers)
        field = {"author": "author_f", "subject": "subject_f"}.get(facet, facet)
        return tantivy.Query.term_set_query(self.schema, field, list(values))

    def _top(
        self, searcher: tantivy.Searcher, q: tantivy.Query, query: EngineQuery
    ) -> tuple[int, list[tuple[float, int, tantivy.DocAddress]]]:
        kwargs: dict[str, Any] = {}
        if query.sort == "date":
            kwargs = {"order_by_field": "date_key", "order": tantivy.Order.Desc}
        elif query.sort == "title":
            kwargs = {"order_by_field": "title_sort", "order": tantivy.Order.Asc}
        found = searcher.search(q, query.limit, count=True, offset=query.offset, **kwargs)
        addresses = [address for _, address in found.hits]
        ids = searcher.fast_field_values("id", addresses) if addresses else []
        out = []
        for (score, address), doc_id in zip(found.hits, ids, strict=True):
            # Ordered by a field, the "score" is that field's value.
            rank = float(score) if query.sort == "relevance" else 0.0
            out.append((rank, int(doc_id or 0), address))
        # `count` is there when the search asks for it (the type stubs lack it).
        return int(found.count or 0), out  # type: ignore[attr-defined]

    def _highlight(
        self,
        searcher: tantivy.Searcher,
        compiler: "_Compiler",
        q: tantivy.Query,
        hits: list[tuple[float, int, Any]],
        tree: Node | None,
    ) -> list[EngineHit]:
        generators: dict[str, tantivy.SnippetGenerator] = {}
        # The snippet generator marks only whole terms of its query, so a word* (the word
        # being typed, "lighth") would mark nothing and name no page: each hit's own words
        # that begin so are added to the query of its snippet.
        prefixes = [
            re.compile(r"(?<!\w)" + re.escape(leaf.text) + r"\w*", re.IGNORECASE)
            for leaf in positives(tree)
            if isinstance(leaf, Term) and leaf.prefix and leaf.field in (None, "title")
        ]
        out = []
        for score, doc_id, address in hits:
            stored = searcher.doc(address)
            hit = EngineHit(document_id=doc_id, score=score)
            for lang in compiler.langs:
                body = stored.get_first(f"body_{lang}") or ""
                if not body:
                    continue
                words = {w.lower() for p in prefixes for w in p.findall(body)}
                if words:
                    field = f"body_{lang}"
                    tokens = {
                        t for w in sorted(words)[:PREFIX_MARKED] for t in compiler._tokens(lang, w)
                    }
                    own = tantivy.Query.boolean_query(
                        [
                            (tantivy.Occur.Should, q),
                            *(
                                (
                                    tantivy.Occur.Should,
                                    tantivy.Query.term_query(self.schema, field, t),
                                )
                                for t in tokens
                            ),
                        ]
                    )
                    gen = tantivy.SnippetGenerator.create(searcher, own, self.schema, field)
                    gen.set_max_num_chars(SNIPPET_CHARS)
                elif lang in generators:
                    gen = generators[lang]
                else:
                    gen = tantivy.SnippetGenerator.create(searcher, q, self.schema, f"body_{lang}")
                    gen.set_max_num_chars(SNIPPET_CHARS)
                    generators[lang] = gen
                # body_* holds the whole record after the body: the snippet is the body's.
                shown = tantivy.Document()
                shown.add_text(f"body_{lang}", stored.get_first(f"body_{lang}") or "")
                snippet = gen.snippet_from_doc(shown)
                fragment = snippet.fragment()
                spans = _char_spans(fragment, [(h.start, h.end) for h in snippet.highlighted()])
                if spans:
                    hit.snippet = split_segments(fragment, spans)
                    body = stored.get_first(f"body_{lang}") or ""
                    ends = json.loads(stored.get_first("page_ends") or "[]")
                    at = body.find(fragment)
                    if at >= 0 and len(ends) > 1:  # the page of the first highlighted word
                        hit.page_no = bisect.bisect_right(ends, at + spans[0][0]) + 1
                break
            out.append(hit)
        return out

    def _aggregate(
        self, searcher: tantivy.Searcher, q: tantivy.Query, facets: list[str], size: int
    ) -> dict[str, list[tuple[str, int]]]:
        aggs = {}
        for facet in facets:
            order = {"_key": "desc"} if facet == "year" else {"_count": "desc"}
            field = FACET_FIELDS[facet]
            aggs[facet] = {"terms": {"field": field, "size": size + 1, "order": order}}
        answer = searcher.aggregate(q, aggs)
        out: dict[str, list[tuple[str, int]]] = {}
        for facet in facets:
            rows = []
            for b in answer[facet]["buckets"]:
                key = b["key"]
                if isinstance(key, float):
                    key = int(key)
                if (facet == "year" and key == MISSING) or (facet == "language" and key == "und"):
                    continue
                rows.append((str(key), int(b["doc_count"])))
            out[facet] = rows[:size]
        return out


class _TantivyBuild:
    """A new index in a new folder beside the live one; `switch` points `current` at it
    (written under another name and renamed over: one atomic step). The folder it
    replaces stays until the next switch or start, for searches still reading it."""

    def __init__(self, live: TantivyEngine) -> None:
        self.live = live
        self.name = f"v{SCHEMA_VERSION}.{uuid.uuid4().hex[:12]}"
        self.engine = TantivyEngine(live.root, fixed=self.name)
        self.engine._open()

    async def apply(self, upserts: list[IndexDoc]) -> None:
        await self.engine.apply(upserts, [])

    async def switch(self) -> None:
        def switch() -> None:
            root = self.live.root
            previous = self.live._live_folder()
            pointer = root / f".{POINTER}.{self.name}"
            pointer.write_text(self.name)
            os.replace(pointer, root / POINTER)
            for old in root.glob("v*"):
                if old.is_dir() and old.name not in (self.name, previous.name):
                    shutil.rmtree(old, ignore_errors=True)

        await asyncio.to_thread(switch)

    async def abort(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.live.root / self.name, True)


class _Compiler:
    """Turns a query tree into a tantivy query over the fields in use."""

    def __init__(
        self,
        engine: TantivyEngine,
        searcher: tantivy.Searcher,
        generation: int,
        every_word_fuzzy: bool = False,
    ) -> None:
        self.every_word_fuzzy = every_word_fuzzy
        self.engine, self.searcher, self.schema = engine, searcher, engine.schema
        self.generation = generation
        self.langs = engine._languages(searcher, generation)
        self.r = ranking.current("tantivy")
        self.corrections: dict[str, str] = {}
        self.is_question = False
        self.asked_tokens: set[str] = set()
        # The documents with every wanted word of the query (when it has several): counted
        # beside the total, which counts the documents with any.
        self.every_word: tantivy.Query | None = None
        self.short = False  # a few words side by side: documents with all of them first
        # The same documents as the compiled query, without what only ranks them
        # (coordination, proximity): cheaper to count facets over.
        self.matching: tantivy.Query | None = None
        # Words looked for as spelt only, which a second look could widen to near
        # spellings (a word no document has is looked for so at once), and words looked
        # for with their near spellings.
        self.exact_words = 0
        self.near_words = 0

    def compile(self, node: Node) -> tantivy.Query:
        for leaf in positives(node):
            for w in words_of(leaf):
                for lang in self.langs:
                    self.asked_tokens.update(self._tokens(lang, w))
        if not (isinstance(node, And) and node.implicit):
            self.matching = self._node(node)
            return self.matching
        wanted, _ = side_by_side(node, ENGLISH_STOPWORDS)
        words = [n.text for n in wanted if isinstance(n, Term)]
        self.is_question = self.r.feedback_weight > 0 and len(words) >= self.r.question_words
        q = self._and(node, top=True)
        if self.r.proximity <= 0:
            return q
        # Documents where neighbouring words of the query stand close together rank higher.
        pairs = [
            tantivy.Query.boost_query(near, self.r.proximity)
            for a, b in zip(words, words[1:], strict=False)
            if (near := self._phrase((a, b), None, slop=self.r.proximity_slop, body_only=True))
        ]
        if not pairs:
            return q
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, q), *((tantivy.Occur.Should, p) for p in pairs)]
        )

    def _node(self, node: Node) -> tantivy.Query:
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Phrase):
            return self._phrase(node.words, node.field) or tantivy.Query.empty_query()
        if isinstance(node, Range):
            return tantivy.Query.range_query(
                self.schema, "year", tantivy.FieldType.Integer, node.low, node.high
            )
        if isinstance(node, Not):  # only reached at top level or under OR: "all but"
            return tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, tantivy.Query.all_query()),
                    (tantivy.Occur.MustNot, self._node(node.child)),
                ]
            )
        if isinstance(node, Or):
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, self._node(c)) for c in node.children]
            )
        return self._and(node)

    def _and(self, node: And, top: bool = False) -> tantivy.Query:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        wanted, strict = side_by_side(node, ENGLISH_STOPWORDS) if node.implicit else ([], [])
        for child in strict if node.implicit else node.children:
            if isinstance(child, Not):
                clauses.append((tantivy.Occur.MustNot, self._node(child.child)))
            else:
                clauses.append((tantivy.Occur.Must, self._node(child)))
        if wanted:
            parts = [self._node(c) for c in wanted]
            clauses.append((tantivy.Occur.Must, self._any(parts)))
            if top:
                any_part = tantivy.Query.boolean_query([(tantivy.Occur.Should, p) for p in parts])
                self.matching = self._strict([*clauses[:-1], (tantivy.Occur.Must, any_part)])
            if top and len(parts) > 1:
                self.short = len(parts) <= self.r.every_word_first
                self.every_word = tantivy.Query.boolean_query(
                    [*clauses[:-1], *((tantivy.Occur.Must, p) for p in parts)]
                )
        q = self._strict(clauses)
        if top and self.matching is None:
            self.matching = q
        return q

    @staticmethod
    def _strict(clauses: list[tuple[tantivy.Occur, tantivy.Query]]) -> tantivy.Query:
        if all(occur == tantivy.Occur.MustNot for occur, _ in clauses):
            clauses = [*clauses, (tantivy.Occur.Must, tantivy.Query.all_query())]
        return tantivy.Query.boolean_query(clauses)

    def _any(self, parts: list[tantivy.Query]) -> tantivy.Query:
        """Documents with any of the parts, by BM25, plus `coordination` for each part a
        document has; with few parts, those with all of them first."""
        if len(parts) == 1:
            return parts[0]
        clauses = [(tantivy.Occur.Should, p) for p in parts]
        if self.r.coordination > 0:
            clauses += [
                (tantivy.Occur.Should, tantivy.Query.const_score_query(p, self.r.coordination))
                for p in parts
            ]
        if len(parts) <= self.r.every_word_first:
            every = tantivy.Query.boolean_query([(tantivy.Occur.Must, p) for p in parts])
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.const_score_query(every, EVERY_WORD_BONUS))
            )
        return tantivy.Query.boolean_query(clauses)

    def _fields(self, field: str | None) -> list[tuple[str, str, float]]:
        """(field, analyzer language, weight) for a word searched in `field`."""
        if field in ("author", "subject", "collection"):
            return [(field, "plain", 1.0)]
        if field in ("type", "language"):
            return [(field, "raw", 1.0)]
        if field == "title":  # the title's BM25 alone, at the whole record's weight
            return [(f"title_{lang}", lang, self.r.body) for lang in self.langs]
        kinds = ("title", "description", "body")
        weights = {"title": self.r.title, "description": self.r.description, "body": self.r.body}
        out = [(f"{k}_{lang}", lang, weights[k]) for k in kinds for lang in self.langs]
        if field is None:
            out.append(("people", "plain", self.r.people))
        return out

    def _tokens(self, lang: str, text: str) -> list[str]:
        if lang == "raw":
            return [text.lower()]
        return self.engine.analyzers[lang].analyze(text)

    def _term(self, term: Term) -> tantivy.Query:
        if term.field == "language":
            return tantivy.Query.term_set_query(
                self.schema, "language", [term.text.lower(), *language_codes(term.text)]
            )
        if term.field == "type":
            return tantivy.Query.term_query(self.schema, "type", term.text.lower())
        # The whole record (body_* hold it all) and the named fields, scored apart.
        whole: list[tantivy.Query] = []
        named: list[tantivy.Query] = []
        known = False
        for field, lang, weight in self._fields(term.field):
            tokens = self._tokens(lang, term.text)
            if not tokens:
                continue
            if len(tokens) > 1:  # "e-mail": the analyzer splits it, so it is a phrase
                q = self._phrase_in(field, tokens, 0)
            elif term.prefix:
                q = tantivy.Query.phrase_prefix_query(self.schema, field, _terms(tokens))
                known = True
            else:
                if self.searcher.doc_freq(field, tokens[0]) == 0:
                    continue  # no document has it there: a smaller query, same answer
                q = tantivy.Query.term_query(self.schema, field, tokens[0])
                known = True
            (whole if field.startswith("body_") else named).append(
                tantivy.Query.boost_query(q, weight)
            )
        if not term.prefix and len(term.text) >= 3:
            if not known or self.every_word_fuzzy:
                named.extend(q for _, q in self._fuzzy(term))
                self.near_words += 1
            else:
                self.exact_words += 1
        if not whole and not named:
            return tantivy.Query.empty_query()
        # The whole record counts fully, the word's best named field adds its weight's
        # worth, the other fields a little.
        if not whole or not named:
            return tantivy.Query.disjunction_max_query([*whole, *named], self.r.tie_breaker)
        return tantivy.Query.boolean_query(
            [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.disjunction_max_query(whole, self.r.tie_breaker),
                ),
                (
                    tantivy.Occur.Should,
                    tantivy.Query.disjunction_max_query(named, self.r.tie_breaker),
                ),
            ]
        )

    def _fuzzy(self, term: Term) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """A word no document contains (or a second look after nothing was found): the
        start of a longer word ("tolk" for "Tolkien"), the library's best-known spelling
        of it everywhere (also offered as "did you mean"), or, when it knows none,
        one-edit variants in titles and names. Walking every text field's dictionary for
        variants would cost tens of milliseconds per word at a million documents; the
        spelling dictionary answers the same question in one."""
        out = []
        better = self._correct(fold(term.text))
        if better:
            self.corrections[term.text] = better
        for field, lang, weight in self._fields(term.field):
            tokens = self._tokens(lang, term.text)
            if len(tokens) != 1:
                continue
            start = tantivy.Query.phrase_prefix_query(self.schema, field, _terms(tokens))
            out.append((tantivy.Occur.Should, tantivy.Query.boost_query(start, weight)))
            if not better and (
                field.startswith("title_") or field in ("people", "author", "subject")
            ):
                q = tantivy.Query.fuzzy_term_query(self.schema, field, tokens[0], distance=1)
                out.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, weight * 0.5)))
            if better:
                meant = self._tokens(lang, better)
                if len(meant) == 1 and self.searcher.doc_freq(field, meant[0]) > 0:
                    q = tantivy.Query.term_query(self.schema, field, meant[0])
                    out.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, weight * 0.7)))
        return out

    def _correct(self, word: str) -> str | None:
        known = self.engine._corrections(self.generation)
        if word not in known:
            if len(known) > 10_000:
                known.clear()
            known[word] = self._spell(word)
        return known[word]

    def _spell(self, word: str) -> str | None:
        """The word meant: the most frequent word it begins, else the nearest spelling
        (more frequent than the word itself, when some documents have it)."""
        own = self.searcher.doc_freq("spell", word)
        completions = [
            c for c in self.searcher.terms_with_prefix("spell", word, limit=10_000) if c[0] != word
        ]
        if completions and not own:
            return str(max(completions, key=lambda c: (c[1], -len(c[0])))[0])
        # Typos rarely hit the first letters: candidates share the first three (few to
        # read), else the first two.
        for shared in (3, 2):
            if len(word) <= shared:
                continue
            candidates = self.searcher.terms_with_prefix("spell", word[:shared], limit=20_000)
            near = [
                (t, f)
                for t, f in candidates
                if abs(len(t) - len(word)) <= 2 and t != word and f > own * 5
            ]
            scores = process.extract(
                word, [t for t, _ in near], scorer=fuzz.ratio, limit=10, score_cutoff=70
            )
            if scores:
                freq = dict(near)
                return str(max(scores, key=lambda s: (s[1], freq[s[0]]))[0])
        return None

    def suggestion(self, tree: Node | None) -> str | None:
        from backend.search.query import render

        if tree is None:
            return None
        return render(replace_terms(tree, self.corrections))

    def _phrase(
        self, words: tuple[str, ...], field: str | None, slop: int = 0, body_only: bool = False
    ) -> tantivy.Query | None:
        clauses = []
        for name, lang, weight in self._fields(field):
            if body_only and not name.startswith("body_"):
                continue
            tokens = [t for w in words for t in self._tokens(lang, w)]
            if not tokens or any(self.searcher.doc_freq(name, t) == 0 for t in tokens):
                continue  # some word is in no document's field: the phrase cannot be there
            q = (
                self._phrase_in(name, tokens, slop)
                if len(tokens) > 1
                else tantivy.Query.term_query(self.schema, name, tokens[0])
            )
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, weight)))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _phrase_in(self, field: str, tokens: list[str], slop: int) -> tantivy.Query:
        return tantivy.Query.phrase_query(self.schema, field, _terms(tokens), slop=slop)


def _char_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """tantivy reports highlights as UTF-8 byte offsets; Python slices by character."""
    if text.isascii():
        return spans
    raw = text.encode("utf-8")

    def chars(n: int) -> int:
        return len(raw[:n].decode("utf-8", errors="ignore"))

    return [(chars(a), chars(b)) for a, b in spans]
