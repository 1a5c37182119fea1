"""Name standardisation for linkage: upper-case letters only, Soundex codes, and nickname folding.

Feeds disagree on case, hyphens and apostrophes ("O'Brien", "OBRIEN"), on nicknames ("Bill" for William),
and on spelling ("Mohammed", "Muhammad"). Linkage compares a cleaned name, blocks on a Soundex code so
sound-alike spellings meet, and credits a nickname match through a canonical given name.
"""

from __future__ import annotations

import re
import unicodedata

_NON_LETTER = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r" +")

#: Common English short forms and the formal name they stand for (folded both ways via `canonical_given`).
NICKNAMES: dict[str, str] = {
    "ABBY": "ABIGAIL",
    "AL": "ALAN",
    "ALEX": "ALEXANDER",
    "ANDY": "ANDREW",
    "BEN": "BENJAMIN",
    "BETH": "ELIZABETH",
    "BETTY": "ELIZABETH",
    "BILL": "WILLIAM",
    "BILLY": "WILLIAM",
    "BOB": "ROBERT",
    "BOBBY": "ROBERT",
    "CHRIS": "CHRISTOPHER",
    "DAN": "DANIEL",
    "DANNY": "DANIEL",
    "DAVE": "DAVID",
    "DEBBIE": "DEBORAH",
    "DICK": "RICHARD",
    "ED": "EDWARD",
    "EDDIE": "EDWARD",
    "HARRY": "HENRY",
    "JACK": "JOHN",
    "JIM": "JAMES",
    "JIMMY": "JAMES",
    "JENNY": "JENNIFER",
    "JOE": "JOSEPH",
    "JOHNNY": "JOHN",
    "KATE": "KATHERINE",
    "KATIE": "KATHERINE",
    "LIZ": "ELIZABETH",
    "LIZZIE": "ELIZABETH",
    "MAGGIE": "MARGARET",
    "MATT": "MATTHEW",
    "MEG": "MARGARET",
    "MIKE": "MICHAEL",
    "MO": "MOHAMMED",
    "NICK": "NICHOLAS",
    "PAT": "PATRICIA",
    "PEGGY": "MARGARET",
    "PETE": "PETER",
    "ROB": "ROBERT",
    "SAM": "SAMUEL",
    "SANDY": "ALEXANDRA",
    "STEVE": "STEPHEN",
    "SUE": "SUSAN",
    "TOM": "THOMAS",
    "TOMMY": "THOMAS",
    "TONY": "ANTHONY",
    "VICKY": "VICTORIA",
    "WILL": "WILLIAM",
}

_SOUNDEX_CODES = {
    **dict.fromkeys("BFPV", "1"),
    **dict.fromkeys("CGJKQSXZ", "2"),
    **dict.fromkeys("DT", "3"),
    "L": "4",
    **dict.fromkeys("MN", "5"),
    "R": "6",
}


def clean_name(raw: str | None) -> str | None:
    """Upper-case ASCII letters and single spaces; accents folded, punctuation dropped; None if empty."""
    if raw is None:
        return None
    folded = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode("ascii").upper()
    text = _SPACES.sub(" ", _NON_LETTER.sub("", folded.replace("-", " "))).strip()
    return text or None


def soundex(name: str | None) -> str | None:
    """American Soundex (letter + three digits) of a cleaned name; None when there are no letters.

    H and W do not separate equal codes, vowels do; this is the census rule, so "ASHCRAFT" is A261.
    """
    if not name:
        return None
    letters = [c for c in name.upper() if "A" <= c <= "Z"]
    if not letters:
        return None
    first = letters[0]
    digits: list[str] = []
    prev = _SOUNDEX_CODES.get(first, "")
    for c in letters[1:]:
        code = _SOUNDEX_CODES.get(c, "")
        if code and code != prev:
            digits.append(code)
        if c not in "HW":
            prev = code
    return (first + "".join(digits) + "000")[:4]


def canonical_given(name: str | None) -> str | None:
    """The formal form of a cleaned given name ("BILL" -> "WILLIAM"); the name itself when it has none."""
    if name is None:
        return None
    first = name.split(" ")[0]
    return NICKNAMES.get(first, first)
