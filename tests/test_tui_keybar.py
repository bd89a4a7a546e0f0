"""The key bar names every key of the main screen, at every width the app draws at."""

from __future__ import annotations

import pytest

from gdviz.tui.keybar import BAR_KEYS, SHORT_KEYS, bar_lines, bar_text
from gdviz.tui.main_screen import MainScreen

#: How the bar writes a binding's first key.
SHOWN = {"question_mark": "?", "full_stop": ".", "plus": "+/-", "minus": "+/-", "shift+tab": "tab"}


def test_every_binding_of_the_main_screen_is_on_the_bar():
    on_bar = {k for k, _, _ in BAR_KEYS}
    for binding in MainScreen.BINDINGS:
        key = binding.key.split(",")[0]
        assert SHOWN.get(key, key) in on_bar, binding


@pytest.mark.parametrize("width", [64, 80, 100, 120, 200])
def test_the_bar_fits_and_names_every_key(width):
    lines = bar_text(width).plain.split("\n")
    assert len(lines) <= 2 and all(len(line) <= width for line in lines)
    text = " ".join(lines)
    for key, desc, short in BAR_KEYS:
        assert f"{SHORT_KEYS.get(key, key)} {short}" in text or f"{key} {desc}" in text, key


def test_wide_terminals_get_one_line_with_the_descriptions_and_80_columns_two():
    assert len(bar_lines(200)) == 1 and "space play/pause" in bar_text(200).plain
    assert len(bar_lines(80)) == 2 and "␣ play" in bar_text(80).plain
