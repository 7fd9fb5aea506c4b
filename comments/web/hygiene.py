"""What a comment's body and an author's name must hold to be shown: something visible.

Only checks and name clean-up live here; the body is stored as typed (trimmed). Text
normalisation for moderation (word lists, the classifier) is the policy's business.
"""

from __future__ import annotations

import re
import unicodedata

# Direction overrides and isolates (U+202A-U+202E, U+2066-U+2069): in a name they turn the
# text after it around, so that "Ana\u202eevil" reads as someone else, or a comment's
# next line reversed. Stripped from names; a body keeps them (quoted text in Arabic or
# Hebrew may need them) and the widget isolates every body and name.
DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Characters that are not format characters (Unicode Cf) yet draw nothing on their own:
# the combining grapheme joiner, Hangul fillers, the blank Braille pattern, variation
# selectors.
BLANKS = frozenset(
    "\u034f\u115f\u1160\u3164\uffa0\u2800"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def visible(text: str) -> bool:
    """Does ``text`` hold anything but whitespace, format characters (zero-width
    spaces and joiners, the BOM, the soft hyphen, direction marks) and blanks?"""
    return any(not (c.isspace() or c in BLANKS or unicodedata.category(c) == "Cf") for c in text)


def clean_name(name: str) -> str:
    """A name without direction controls, trimmed."""
    return DIRECTION_CONTROLS.sub("", name).strip()
