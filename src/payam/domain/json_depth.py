"""How deep a JSON text nests, counted without parsing it (P9.2).

Python's JSON reader recurses once per ``[`` or ``{``: a text nested some thousand levels deep
raises ``RecursionError`` (not ``ValueError``) from deep inside the parser, and a handler that
only expects malformed JSON dies with it. Counting the brackets outside strings first costs
one pass over the text and no stack.
"""

from __future__ import annotations

import re

# A JSON string: what is inside it is text, never nesting.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nests_deeper_than(text: str, limit: int) -> bool:
    """True when ``text`` opens more than ``limit`` arrays/objects inside each other. Invalid
    JSON may be counted too deep (an unclosed string's brackets count), never too shallow."""
    if text.count("[") + text.count("{") <= limit:  # cannot nest deeper than it opens
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
