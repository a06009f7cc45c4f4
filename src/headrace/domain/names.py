"""What the free text a client names things with may hold: pipeline, key and organisation
names (labels shown in lists, logs and terminals) and longer text (descriptions, queries).

A label is one line of visible text: no control characters (NUL, which PostgreSQL refuses in
text, CR/LF, which forge log lines), no format characters (bidi overrides and isolates, which
make a name display as another, zero-width characters), no line separators, and at most
``MAX_LABEL_LENGTH`` characters, the width of the columns that keep them. Longer text may
hold tabs and line breaks but no other control character, and no lone surrogate (which
cannot be stored as UTF-8).
"""

from __future__ import annotations

import re
import unicodedata

from headrace.domain.problems import Loc, Problem

MAX_LABEL_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 10_000

# Unicode general categories never allowed in a label: controls, format characters, lone
# surrogates, line and paragraph separators.
_NOT_IN_LABELS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# In longer text (a query may be megabytes, so a pattern, not a loop): the C0 and C1
# controls but tab, LF and CR, and lone surrogates.
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def check_label(value: str, loc: Loc, what: str) -> list[Problem]:
    """Problems with a one-line name (empty, too long, invisible or control characters)."""
    if not value.strip():
        return [Problem(loc, f"{what} must not be empty", "name.empty")]
    if len(value) > MAX_LABEL_LENGTH:
        return [
            Problem(loc, f"{what} is longer than {MAX_LABEL_LENGTH} characters", "name.too_long")
        ]
    bad = next((c for c in value if unicodedata.category(c) in _NOT_IN_LABELS), None)
    if bad is not None:
        return [
            Problem(
                loc,
                f"{what} holds {_describe(bad)}; use visible characters on one line",
                "name.invalid_character",
            )
        ]
    return []


def check_text(value: str, loc: Loc, what: str, max_length: int | None) -> list[Problem]:
    """Problems with longer text (too long, control characters other than tab and line
    breaks, lone surrogates)."""
    if max_length is not None and len(value) > max_length:
        return [Problem(loc, f"{what} is longer than {max_length} characters", "text.too_long")]
    bad = _NOT_IN_TEXT.search(value)
    if bad is not None:
        return [Problem(loc, f"{what} holds {_describe(bad.group())}", "text.invalid_character")]
    return []
