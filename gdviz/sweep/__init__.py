"""Sweeps: which batch size, and why (issue 11).

:mod:`~gdviz.sweep.runner` trains a scenario's ``[sweep]`` grid (batch size x learning rate
x seed), each cell to its target loss; :mod:`~gdviz.sweep.result` derives from the cells the
best learning rate per batch size, the McCandlish fit and its critical batch size, and the
gradient noise scale B_simple; :mod:`~gdviz.sweep.report` prints them; :mod:`~gdviz.sweep.cli`
is the ``gdviz sweep`` command. Nothing is imported here, so that declaring the command
loads neither NumPy nor Numba.
"""

