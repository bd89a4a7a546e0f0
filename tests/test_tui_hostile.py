"""The app with hostile strings (issue 14, class 1): names, titles and paths that look like
markup are shown as they are, and never crash the app."""

from __future__ import annotations

from pathlib import Path

from gdviz.data import build_dataset
from gdviz.scenario import parse_scenario
from gdviz.tui.app import make_app
from gdviz.tui.panels import RunColumn
from gdviz.tui.screens import ForkScreen

SIZE = (200, 60)
NAMES = ("x[/]", "[red]r[/red]", "[link=x]l[/link]")
TEXT = 'title = "[/bold] T"\n[data]\nsource = "linear"\nn = 32\nd = 1\n[train]\nepochs = 2\nlearning_rate = 0.05\n' + "\n".join(
    f"[[runs]]\nname = '{n}'\nbatch_size = {i + 1}" for i, n in enumerate(NAMES)
)


def _app(export_dir: Path):
    scenario = parse_scenario(TEXT, "[b]hostile.toml", Path("."))
    return make_app(scenario, build_dataset(scenario), frozen=True, clock=1.0, export_dir=export_dir)


async def test_markup_names_are_the_column_titles_as_written(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [col._border_title.plain for col in app.screen.query(RunColumn)]
        for name, title in zip(NAMES, titles, strict=True):
            assert name in title
        assert app.screen.query_one("#stats").render() is not None


async def test_export_into_a_folder_with_brackets_notifies_with_the_path(tmp_path):
    folder = tmp_path / "[b]out[/"
    folder.mkdir()
    app = _app(folder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert app.last_export is not None and all(p.exists() for p in app.last_export)
        assert any(str(folder) in n.message for n in app._notifications)


async def test_e_and_s_write_whole_files_and_leave_no_temporaries(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "s")
        await pilot.pause()
        written = sorted(p.name for p in tmp_path.iterdir())
        assert len(written) == 3 and not any(name.startswith(".") for name in written)
        assert app.last_screenshot is not None and app.last_screenshot.read_text().rstrip().endswith("</svg>")


async def test_a_kernel_cache_note_from_the_warm_up_is_shown_literally(tmp_path, monkeypatch):
    """The live worker warms the kernels up; a note it leaves (a damaged cache) is notified."""
    from gdviz import numba_cache

    scenario = parse_scenario(TEXT, "[b]hostile.toml", Path("."))
    app = make_app(scenario, build_dataset(scenario), fps=10, export_dir=tmp_path)
    monkeypatch.setattr(numba_cache, "notes", ["Numba's cache had a damaged file (x[/].nbi)"])
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            if any("damaged" in n.message for n in app._notifications):
                break
            await pilot.pause(0.05)
        assert any(n.message == "Numba's cache had a damaged file (x[/].nbi)" for n in app._notifications)
        assert numba_cache.notes == []


async def test_the_fork_form_names_the_run_literally(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ForkScreen)
        first = app.screen.query("Static").first()
        assert "x[/]" in str(first.render())

