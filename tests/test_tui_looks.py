"""A run's look (colour, marker, line style) follows its method, the same in every scenario."""

from __future__ import annotations

import colorsys

from rich.color import Color, ColorSystem

from gdviz.scenario import load_scenario
from gdviz.tui.colors import METHOD_LOOKS, heat_palette, run_looks
from gdviz.data import build_dataset
from gdviz.runfacts import method_name


def methods_of(name: str) -> list[str]:
    s = load_scenario(name)
    n = build_dataset(s).n
    return [method_name(r.batch_size or n, n) for r in s.runs]


def test_a_method_looks_the_same_whatever_its_column():
    """Stochastic is the 2nd column of houses and the 3rd of lr_too_large: same look in both."""
    houses, too_large = methods_of("houses"), methods_of("lr_too_large")
    assert houses.index("stochastic") != too_large.index("stochastic")
    a = run_looks(houses)[houses.index("stochastic")]
    b = run_looks(too_large)[too_large.index("stochastic")]
    assert a == b
    for m in ("full-batch", "mini-batch"):
        assert run_looks(houses)[houses.index(m)] == run_looks(too_large)[too_large.index(m)]


def test_each_method_has_its_own_colour_marker_and_line_style():
    looks = run_looks(["full-batch", "stochastic", "mini-batch"])
    assert len({lk.color for lk in looks}) == len({lk.marker for lk in looks}) == len({lk.pattern for lk in looks}) == 3
    assert [lk.pattern for lk in looks] == ["solid", "dotted", "dashed"]


def test_runs_of_one_method_are_told_apart_by_shade_and_marker():
    """optimizers: three mini-batch runs, each its own shade and marker, all mini-batch's line style."""
    looks = run_looks(methods_of("optimizers"))
    assert len({lk.color for lk in looks}) == len({lk.marker for lk in looks}) == 3
    assert {lk.pattern for lk in looks} == {METHOD_LOOKS["mini-batch"][2]}
    # the first run of a method keeps the method's own look, whatever runs come before it
    assert run_looks(["stochastic", "mini-batch"])[1] == run_looks(["mini-batch"])[0]


def _lightness(rgb) -> float:
    return colorsys.rgb_to_hls(*(v / 255 for v in rgb))[1]


def test_the_heat_map_darkens_towards_the_minimum_in_truecolor_and_in_256_colours():
    """Each level is lighter than the one below it, also once Rich (which Textual draws with)
    reduces it to the 256-colour palette (equal neighbours allowed: 14 levels, fewer greys)."""
    palette = heat_palette()
    assert all(_lightness(a) < _lightness(b) for a, b in zip(palette, palette[1:]))
    reduced = [Color.from_rgb(*c).downgrade(ColorSystem.EIGHT_BIT).get_truecolor() for c in palette]
    shades = [_lightness(tuple(c)) for c in reduced]
    assert shades == sorted(shades) and len(set(shades)) >= 10
