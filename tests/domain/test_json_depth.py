"""Nesting counted without parsing (issue 9.5): the count agrees with the parser's."""

from __future__ import annotations

import json

from payam.domain.json_depth import nests_deeper_than


def test_nesting_is_counted_outside_strings_only() -> None:
    assert not nests_deeper_than('{"a": [[1]]}', 3)
    assert nests_deeper_than('{"a": [[1]]}', 2)
    assert not nests_deeper_than('{"a": "[[[[[[[[[[", "b": "\\"[[[["}', 1)
    assert not nests_deeper_than("[]" * 1000, 1)  # many, but side by side
    deep = "[" * 2000 + "]" * 2000
    assert nests_deeper_than(deep, 32)


def test_what_passes_is_what_the_parser_can_read() -> None:
    for depth in (1, 10, 32):
        text = "[" * depth + "]" * depth
        assert not nests_deeper_than(text, 32)
        json.loads(text)
