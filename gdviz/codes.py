"""The names a scenario may use for models, optimizers, schedules and data sources, and the
integer codes the kernels know them by.

This module imports nothing (no NumPy, no Numba): the scenario schema reads its choices from
here, so validating a file never loads the kernels. :mod:`gdviz.kernels.layout` re-exports
the codes for the jitted code.
"""

from __future__ import annotations

MODEL_LINEAR = 0  # mean squared error, as torch.nn.MSELoss(reduction="mean")
MODEL_LOGISTIC = 1  # binary cross-entropy on logits, as torch.nn.BCEWithLogitsLoss
MODEL_MLP = 2  # one or two hidden layers, one output; loss LOSS_MSE or LOSS_BCE (see kernels/mlp.py)

ACT_RELU = 0
ACT_TANH = 1
ACT_SIGMOID = 2

LOSS_MSE = 0  # as torch.nn.MSELoss on the network's output
LOSS_BCE = 1  # as torch.nn.BCEWithLogitsLoss on the network's output (a logit)

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
MODELS = {"linear": MODEL_LINEAR, "logistic": MODEL_LOGISTIC, "mlp": MODEL_MLP}
ACTIVATIONS = {"relu": ACT_RELU, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}
LOSSES = {"mse": LOSS_MSE, "bce": LOSS_BCE}
#: Most hidden layers an MLP may have.
MAX_HIDDEN_LAYERS = 2
OPTIMIZERS = {"sgd": OPT_SGD, "adam": OPT_ADAM, "adamw": OPT_ADAMW, "rmsprop": OPT_RMSPROP, "adagrad": OPT_ADAGRAD}
SCHEDULES = {"constant": SCHED_CONSTANT, "step": SCHED_STEP, "exponential": SCHED_EXPONENTIAL, "cosine": SCHED_COSINE}
#: Built-in dataset generators (``[data] source``); ``csv`` reads the user's file.
SOURCES = ("houses", "linear", "classes", "random", "moons", "csv")
DTYPES = ("float64", "float32")


def mlp_n_params(d: int, hidden: tuple[int, ...] | list[int]) -> int:
    """Parameters of an MLP ``d → hidden... → 1`` with biases (``10 → 50 → 1``: 601)."""
    sizes = [int(d), *(int(h) for h in hidden), 1]
    return sum(sizes[k + 1] * (sizes[k] + 1) for k in range(len(sizes) - 1))
