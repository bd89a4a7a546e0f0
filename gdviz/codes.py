"""The names a scenario may use for models, optimizers, schedules and data sources, and the
integer codes the kernels know them by.

This module imports nothing (no NumPy, no Numba): the scenario schema reads its choices from
here, so validating a file never loads the kernels. :mod:`gdviz.kernels.layout` re-exports
the codes for the jitted code.
"""

from __future__ import annotations

MODEL_LINEAR = 0  # mean squared error, as torch.nn.MSELoss(reduction="mean")
MODEL_LOGISTIC = 1  # binary cross-entropy on logits, as torch.nn.BCEWithLogitsLoss

OPT_SGD = 0
OPT_ADAM = 1
OPT_ADAMW = 2
OPT_RMSPROP = 3
OPT_ADAGRAD = 4

SCHED_CONSTANT = 0
SCHED_STEP = 1  # lr * gamma ** (epoch // step_size)          (torch StepLR)
SCHED_EXPONENTIAL = 2  # lr * gamma ** epoch                  (torch ExponentialLR)
SCHED_COSINE = 3  # eta_min + (lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2   (CosineAnnealingLR)

#: Scenario name -> kernel code.
MODELS = {"linear": MODEL_LINEAR, "logistic": MODEL_LOGISTIC}
OPTIMIZERS = {"sgd": OPT_SGD, "adam": OPT_ADAM, "adamw": OPT_ADAMW, "rmsprop": OPT_RMSPROP, "adagrad": OPT_ADAGRAD}
SCHEDULES = {"constant": SCHED_CONSTANT, "step": SCHED_STEP, "exponential": SCHED_EXPONENTIAL, "cosine": SCHED_COSINE}
#: Built-in dataset generators (``[data] source``); ``csv`` reads the user's file.
SOURCES = ("houses", "linear", "classes", "csv")
DTYPES = ("float64", "float32")
