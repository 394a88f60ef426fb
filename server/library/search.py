"""Full-text search of library entries: PostgreSQL 'simple' tsvector with CJK bigrams.

Why bigrams and not pg_trgm or a Chinese parser:
- PostgreSQL's parsers split text on spaces and punctuation; Chinese has no
  spaces, so 'simple' would index a whole sentence as one word. A Chinese
  segmenter (zhparser, pg_jieba) is an extension Debian does not package.
- pg_trgm needs three characters per trigram, but most Chinese words are two
  characters ("分数", "数学"), so two-character queries would not use the index.
- Overlapping bigrams (plus unigrams) is how Lucene's CJKAnalyzer indexes
  Chinese: every two-character word of the text is a token, a query of n
  characters becomes its n-1 bigrams ANDed, and a one-character query its
  unigram. It needs nothing but the built-in 'simple' configuration and a GIN
  index over the stored tsvector.
Latin and Mongolian-script words are kept whole and lower-cased (Mongolian is
written with spaces between words); numbers too.

SQLite (embedded mode) has no tsvector: the same query terms are matched with
LIKE on the stored text, which is correct and fast enough for one school's
library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from server.db.models_reach import LibraryEntry

# Han ideographs, kana and Hangul: scripts written without spaces between words.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\s{_CJK}\W_]+|\d+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
MAX_QUERY_TERMS = 32


def _cjk_grams(run: str, unigrams: bool) -> list[str]:
    if len(run) == 1:
        return [run]
    grams = [run[i : i + 2] for i in range(len(run) - 1)]
    return [*run, *grams] if unigrams else grams


def index_tokens(*texts: str) -> str:
    """The text stored in `search_text`: space-separated tokens for the 'simple' config."""
    out: list[str] = []
    for text in texts:
        for m in _TOKEN.finditer(text or ""):
            word = m.group(0)
            if _IS_CJK.match(word):
                out.extend(_cjk_grams(word, unigrams=True))
            else:
                out.append(word.lower())
    return " ".join(out)


def query_terms(q: str) -> list[str]:
    """Terms a query needs (all of them, AND); bigrams for CJK runs, whole words otherwise."""
    terms: list[str] = []
    for m in _TOKEN.finditer(q or ""):
        word = m.group(0)
        terms.extend(_cjk_grams(word, unigrams=False) if _IS_CJK.match(word) else [word.lower()])
    seen: dict[str, None] = dict.fromkeys(terms)
    return list(seen)[:MAX_QUERY_TERMS]


def tsquery_text(terms: Iterable[str]) -> str:
    """A to_tsquery('simple', ...) string: terms quoted as lexemes and ANDed; a Latin or
    Mongolian word also matches as a prefix ("fract" finds "fractions")."""
    out = []
    for t in terms:
        lexeme = "'" + t.replace("\\", "").replace("'", "''") + "'"
        out.append(lexeme if _IS_CJK.match(t) else lexeme + ":*")
    return " & ".join(out)


def _tsquery(terms: list[str]) -> sa.ColumnElement[object]:
    return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery_text(terms))


def vector_expr(dialect: str, search_text: str) -> sa.ColumnElement[str] | str:
    """The value of `search_vector` for an insert/update on this dialect."""
    if dialect == "postgresql":
        return sa.func.to_tsvector(sa.literal_column("'simple'::regconfig"), search_text)
    return ""


def match_clause(dialect: str, terms: list[str]) -> sa.ColumnElement[bool]:
    """WHERE clause for `terms`: GIN-indexed `@@` on PostgreSQL, LIKE on SQLite."""
    if dialect == "postgresql":
        return LibraryEntry.search_vector.op("@@")(_tsquery(terms))
    padded = " " + LibraryEntry.search_text + " "
    return sa.and_(
        *(
            padded.like(f"% {_escape_like(t)} %" if _IS_CJK.match(t) else f"% {_escape_like(t)}%",
                        escape="\\")
            for t in terms
        )
    )


def rank_expr(dialect: str, terms: list[str]) -> sa.ColumnElement[float] | None:
    if dialect != "postgresql" or not terms:
        return None
    return sa.func.ts_rank(LibraryEntry.search_vector, _tsquery(terms))


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
