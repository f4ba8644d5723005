"""Names folded for search and sorting: accents, case and punctuation do not matter.

"Hostal Ñusta", "HOSTAL ÑUSTA" and "hostal nusta" all fold to "hostal nusta". The folded forms are
stored (the establishment's `name_key` and `province_key`, and one `register_term` per word), so
that searching is an ordinary index range on both databases. Migration 0005 holds a frozen copy
of `fold`: change both together, and write a migration that folds the stored names again.
"""

from __future__ import annotations

import re
import unicodedata

#: Sorts after every folded word: `term >= w AND term < w + HIGH` is "term starts with w".
HIGH = "\uffff"
#: The longest word kept; longer ones are cut (nobody types 60 letters to find a hostal).
WORD_MAX = 60
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case, without accents or punctuation, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(word[:WORD_MAX] for word in _WORD.findall(plain.replace("_", " ")))


def words(text: str) -> list[str]:
    """The folded words of a text, each once, in order."""
    return list(dict.fromkeys(fold(text).split()))


def terms_of(*names: str) -> set[str]:
    """What an establishment can be found by: every word of its names."""
    return {word for name in names for word in words(name)}
