"""Confusable skeletons: what a key looks like, so look-alike letters cannot dodge a name check.

Unicode Technical Standard #39 defines a string's *skeleton*: decompose it, map every
character to the prototype it is confusable with, and two strings that look alike get the
same skeleton. The names scoria checks keys against (unsafe projected-context names,
secret key names) are ASCII and compared case-insensitively, so only the ASCII side of that
mapping matters here:

1. NFKD, then combining marks are dropped (``ḣ``, ``é``, ``ｈ`` become ``h``, ``e``, ``h``);
2. every remaining non-ASCII character that TS39's ``confusables.txt`` lists as confusable
   with an ASCII letter or digit is replaced by it (Cyrillic ``е`` -> ``e``, Greek ``ο`` ->
   ``o``, dotless ``ı`` -> ``i``);
3. anything else is kept as it is (the key normalisation then treats it as a separator).

A capital letter can imitate one ASCII letter while its lowercase form imitates another
(Greek ``Η`` looks like ``H``, its ``η`` like ``n``; Cyrillic ``І`` is listed with ``l``,
its ``і`` with ``i``), so ``skeletons`` gives both readings: each character as it is, and
each character through its lowercase form. A check that matches either reading catches
both.

The confusables data comes from the ``confusable_homoglyphs`` package, which ships
``confusables.txt`` as JSON. ASCII-only text (almost every key) is returned unchanged
without touching the table.
"""

import unicodedata
from functools import cache


@cache
def ascii_lookalikes() -> dict[str, tuple[str, ...]]:
    """Non-ASCII character -> the ASCII letters or digits it is confusable with (built once)."""
    from confusable_homoglyphs.confusables import confusables_data

    table = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        found = {glyph["c"] for glyph in homoglyphs}
        candidates = sorted(text for text in found if text.isascii() and text.isalnum())
        if candidates:
            table[char] = tuple(candidates)
    return table


def _pick(char: str, candidates: tuple[str, ...]) -> str:
    """The look-alike of ``char``: a single character of the same case first."""
    return min(candidates, key=lambda text: (len(text), text.isupper() != char.isupper(), text))


def _as_seen(char: str, table: dict[str, tuple[str, ...]]) -> str:
    candidates = table.get(char)
    return _pick(char, candidates) if candidates else char


def _through_lowercase(char: str, table: dict[str, tuple[str, ...]]) -> str:
    lower = char.lower()
    candidates = table.get(lower)
    if not candidates:
        return _as_seen(char, table)
    found = _pick(lower, candidates)
    return found.upper() if char.isupper() else found


def skeletons(text: str) -> tuple[str, ...]:
    """``text`` with look-alike letters replaced by the ASCII letters they imitate: one
    string, or two when a capital reads differently from its lowercase form."""
    if text.isascii():
        return (text,)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    if stripped.isascii():
        return (stripped,)
    table = ascii_lookalikes()
    readings = (
        "".join(char if char.isascii() else mapping(char, table) for char in stripped)
        for mapping in (_as_seen, _through_lowercase)
    )
    return tuple(dict.fromkeys(readings))
