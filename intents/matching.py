"""Finding many known terms in a short text with dictionary look-ups (no big regex alternations)."""

from __future__ import annotations

from collections.abc import Iterable


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class TermMatcher:
    """All occurrences of a set of terms: for each position, only lengths some term starting
    with that character has are tried. Latin terms match whole words only ("ai" is not in "taiwan")."""

    def __init__(self, terms: Iterable[str]):
        self._terms = {t for t in terms if t}
        self._lengths: dict[str, list[int]] = {}
        for term in self._terms:
            self._lengths.setdefault(term[0], []).append(len(term))
        for first in self._lengths:
            self._lengths[first] = sorted(set(self._lengths[first]), reverse=True)

    def __contains__(self, term: str) -> bool:
        return term in self._terms

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, term) for every occurrence, longest first at each position."""
        found = []
        for i, ch in enumerate(text):
            for size in self._lengths.get(ch, ()):
                piece = text[i: i + size]
                if len(piece) == size and piece in self._terms and _whole(text, i, i + size, piece):
                    found.append((i, i + size, piece))
        return found


def _whole(text: str, i: int, j: int, piece: str) -> bool:
    if not (_is_word_char(piece[0]) or _is_word_char(piece[-1])):
        return True
    before = text[i - 1] if i > 0 else " "
    after = text[j] if j < len(text) else " "
    return not (_is_word_char(piece[0]) and _is_word_char(before)) and not (
        _is_word_char(piece[-1]) and _is_word_char(after))
