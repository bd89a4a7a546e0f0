"""The app's fork actions: enter opens the fork form; a fork is a new run beside its parent.

A mixin of :class:`gdviz.tui.app.GdvizApp`. In the live app the worker's engine makes the fork
(:class:`gdviz.tui.worker.EngineDriver`) and posts it whole; a frozen app makes it in its own
copy of its trained engine and trains it to the end at once (:func:`gdviz.tui.frozen.fork_now`).
Either way the new run gets a column of its own, after the others (:meth:`ForkActions.runs_added`).
A seed ensemble's column forks its median seed at the clock (:func:`gdviz.tui.views.representative`):
one new run, in one new column.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from gdviz.text import printable
from gdviz.tui.fork import ForkSettings, begin_fork, default_epochs, fork_point, why_not_fork
from gdviz.tui.frozen import fork_now
from gdviz.tui.screens import ForkScreen
from gdviz.tui.views import representative

if TYPE_CHECKING:
    from gdviz.engine import Engine
    from gdviz.tui.main_screen import MainScreen
    from gdviz.tui.state import Playback
    from gdviz.tui.worker import EngineDriver


class ForkActions:
    """Forks, for the app (needs its playback, selection, ``frozen``, driver and screens)."""

    playback: Playback
    selected: int
    frozen: bool
    n: int
    driver: EngineDriver | None
    _trained: Engine | None
    _fork_engine: Engine | None
    main_screen: MainScreen | None
    notify: Any
    push_screen: Any
    call_after_refresh: Any
    apply_size: Any
    draw: Any

    def action_fork(self) -> None:
        pb = self.playback
        col = pb.columns[self.selected]
        i = representative(pb, self.selected)  # an ensemble's median seed at the clock
        why = why_not_fork(pb, i)
        if why:
            self.notify(printable(why), title="fork", severity="warning", markup=False)
            return
        was_playing = pb.playing
        pb.playing = False
        _, epoch = fork_point(pb, i)
        info = pb.infos[i].at(epoch) if pb.infos[i].schedule else pb.infos[i]  # the batch in force there
        screen = ForkScreen(info, self.n, epoch, default_epochs(pb, i), of=col.label if col.ensemble else "")
        self.push_screen(screen, callback=partial(self._fork_chosen, i, was_playing))

    def _fork_chosen(self, i: int, was_playing: bool, settings: ForkSettings | None) -> None:
        self.playback.playing = was_playing
        if settings is not None:
            self.fork_run(i, settings)

    def fork_run(self, i: int, settings: ForkSettings) -> None:
        """Fork run ``i`` at the playback clock with ``settings`` (the fork form's result): a new
        run beside it, made by the worker's engine (a frozen app: its own copy, trained now)."""
        request = begin_fork(self.playback, i, settings)
        parent = self.playback.infos[i].name
        if self.frozen:
            try:
                fork_now(self.playback, self._engine_for_forks(), request)
            except ValueError as exc:
                self.notify(str(exc), title="fork", severity="warning", markup=False)
                return
            self.runs_added()
        elif self.driver is not None:
            self.driver.requests.put(request)
        else:
            self.notify("the engine is not running: r restarts it", severity="warning")
            return
        self.notify(printable(f"{parent} forked at epoch {request.forked_at:.3g}: a new run beside it, lr "
                              f"{settings.learning_rate:g}, B={min(settings.batch_size, self.n)}, {settings.optimizer}, "
                              f"{settings.epochs:g} epochs"), title="fork", markup=False)  # fmt: skip

    def _engine_for_forks(self) -> Engine:
        """A frozen app's own copy of its trained engine (the trained one may be shared)."""
        if self._fork_engine is None:
            import copy

            assert self._trained is not None
            self._trained._release_device()
            self._fork_engine = copy.deepcopy(self._trained)
        return self._fork_engine

    def runs_added(self) -> None:
        """The runs changed (a fork joined, or forks were dropped): a column per lone run and
        per seed ensemble (:attr:`gdviz.tui.state.Playback.columns`)."""
        screen = self.main_screen
        if screen is not None:
            screen.set_runs(len(self.playback.columns))
            self.call_after_refresh(self.apply_size)
        self.draw(force=True)
