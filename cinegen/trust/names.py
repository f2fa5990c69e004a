"""Names of real people found however they are written: any case, extra spaces or punctuation,
diacritics, digits or symbols for letters ("T0m Cru1se", "tom  cruise", "TOM-CRUISE", "Tóm
Crúise", "t.o.m c.r.u.i.s.e", "TomCruise").

`skeleton(text)` folds text to a canonical form: NFKD with the combining marks dropped, a few
letters with no decomposition spelled out (ø, æ, ł, ß ...), casefolded, look-alike digits and
symbols mapped to the letters they stand for, and letters that those stand-ins make ambiguous
merged (1, l, i, | and ! all become "i"; 0 and o "o"), then anything that is not a letter a
space. A `NameIndex` holds names in that form, as token sequences and joined into one word, and
finds them in a prompt's skeleton, so the prompt and the name are folded by the same function and
every variant of a listed name meets the same key.

The list of well-known people is `resources/public_figures.txt`; the consent registry's names are
indexed the same way. Single-word names that are also ordinary words are left out of the list
(see docs/trust.md §6).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

# letters with no Unicode decomposition, spelled as a reader would
_SPELLED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
                          "ß": "ss", "ħ": "h", "ŋ": "n"})
# digits and symbols written for letters, and letters merged with the look-alikes that stand for them
_LEET = str.maketrans({"0": "o", "1": "i", "l": "i", "|": "i", "!": "i", "3": "e", "4": "a", "@": "a",
                       "5": "s", "$": "s", "7": "t", "+": "t", "8": "b", "9": "g", "6": "g", "2": "z",
                       "€": "e"})
_NON_LETTERS = re.compile(r"[^a-z]+")


def skeleton(text: str) -> str:
    """The folded form of `text` (see the module docstring): lower-case ASCII letters and spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = plain.casefold().translate(_SPELLED).translate(_LEET)
    return " ".join(_NON_LETTERS.sub(" ", folded).split())


def _joined_candidates(tokens: list[str]) -> list[str]:
    """Words that may be a name written without spaces: every token, and every stretch of four
    or more single letters (a name spelled out, 'o p r a h', even after an article 'a')."""
    out = list(tokens)
    run: list[str] = []
    for t in [*tokens, ""]:
        if len(t) == 1:
            run.append(t)
            continue
        out.extend("".join(run[i:j]) for i in range(len(run)) for j in range(i + 4, len(run) + 1))
        run = []
    return out


_DIGIT_LETTERS = str.maketrans("01345789", "oieastbg")


def _recased(word: str) -> str:
    """A capitalised word written with digits or shouted case, as it is usually written: 'R081n' ->
    'Robin', 'ROBIN' / 'ROBin' / 'WilLIamS' -> 'Robin' / 'Williams' ('DiCaprio' and 'McAdams', one
    inner capital, are kept)."""
    if word[0].isupper() and any(c.isdigit() for c in word) and any(c.isalpha() for c in word[1:]):
        word = word[0] + word[1:].translate(_DIGIT_LETTERS)
    if word[0].isupper() and sum(c.isupper() for c in word[1:]) >= 2:
        word = word.title()
    return word


def plain_capitals(text: str) -> str:
    """`text` with diacritics stripped, punctuation between words made a space, CamelCase split,
    digits inside capitalised words read as letters and shouted words title-cased, capitals
    otherwise kept: so a rule that looks for capitalised names ('Given Surname') also reads
    'Röbin-Williams', 'RobinWilliams', 'R081n W1ll14m5' and 'ROBIN WILLIAMS'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_SPELLED)
    plain = re.sub(r"\b[A-Z][A-Za-z0-9]+\b", lambda m: _recased(m.group(0)), plain)
    plain = re.sub(r"\b([A-Z][a-z]{2,})([A-Z][a-z]{2,})\b", r"\1 \2", plain)  # not 'DiCaprio', 'McAdams'
    return re.sub(r"(?<=\w)[-_.,]+(?=[A-Z])|\s+", " ", plain)


@dataclass(frozen=True)
class NameIndex:
    """Names by their skeleton: token sequences (`tom cruise`) and joined forms (`tomcruise`)."""

    by_tokens: dict[tuple[str, ...], str] = field(default_factory=dict)
    joined: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Iterable[str | tuple[str, str]]) -> NameIndex:
        """Index names; an item is a name, or (a way of writing it, the name to report)."""
        by_tokens: dict[tuple[str, ...], str] = {}
        joined: dict[str, str] = {}
        for item in names:
            written, name = (item, item) if isinstance(item, str) else item
            tokens = tuple(skeleton(written).split())
            if not tokens:
                continue
            by_tokens.setdefault(tokens, name)
            if len(tokens) > 1 or len(tokens[0]) >= 4:
                joined.setdefault("".join(tokens), name)
        return cls(by_tokens, joined)

    def find(self, text: str) -> list[str]:
        """The indexed names `text` mentions, in order of appearance, each once."""
        if not self.by_tokens:
            return []
        tokens = skeleton(text).split()
        longest = max(len(k) for k in self.by_tokens)
        found: list[str] = []
        for i in range(len(tokens)):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                name = self.by_tokens.get(tuple(tokens[i:i + n]))
                if name is not None and name not in found:
                    found.append(name)
        for t in _joined_candidates(tokens):
            name = self.joined.get(t)
            if name is not None and name not in found:
                found.append(name)
        return found


def public_figures() -> tuple[str, ...]:
    """The shipped list of well-known people (resources/public_figures.txt)."""
    text = resources.files("cinegen.trust").joinpath("resources/public_figures.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
