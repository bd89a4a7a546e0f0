"""Gradient accumulation step for step against PyTorch's usual loop (float64, ``shuffle = false``)::

    for i in range(len(loader)):
        (criterion(model(xb), yb) / k).backward()
        if (i + 1) % k == 0 or i + 1 == len(loader):
            optimizer.step(); optimizer.zero_grad()

50 rows in batches of 4 are 13 micro-batches: groups of 3, 3, 3, 3 and a short last group of 1,
which steps too. The parameters after every optimizer step agree to rel 1e-10. Skipped when
torch is not installed (an optional peer: ``pip install -e '.[peers]'``).
"""

import numpy as np
import pytest

from gdviz.kernels import advance_batch, new_state, set_run
from gdviz.mlp import MLP

torch = pytest.importorskip("torch")

N, D, B, K, EPOCHS = 50, 3, 4, 3, 3
OPTIMIZERS = {
    "sgd-momentum": ("sgd", dict(lr=0.05, momentum=0.9)),
    "adam": ("adam", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
}
MODELS = ("linear", "logistic", "mlp")


def flat(model) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def torch_steps(kind: str, opt: str):
    """The data, the initial parameters and the parameters after each of PyTorch's steps."""
    name, kw = OPTIMIZERS[opt]
    torch.manual_seed(1)
    X = torch.randn(N, D)
    if kind == "linear":
        y = X @ torch.tensor([[0.5], [-1.0], [2.0]]) + 0.3 * torch.randn(N, 1)
        model, criterion = torch.nn.Linear(D, 1), torch.nn.MSELoss()
    elif kind == "logistic":
        y = (X[:, :1] - X[:, 1:2] + 0.5 * torch.randn(N, 1) > 0).double()
        model, criterion = torch.nn.Linear(D, 1), torch.nn.BCEWithLogitsLoss()
    else:
        y = torch.sin(X.sum(dim=1, keepdim=True))
        model = torch.nn.Sequential(torch.nn.Linear(D, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
        criterion = torch.nn.MSELoss()
    theta0 = flat(model)
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name](model.parameters(), **kw)
    starts = list(range(0, N, B))
    steps = []
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        for i, s in enumerate(starts):
            (criterion(model(X[s : s + B]), y[s : s + B]) / K).backward()
            if (i + 1) % K == 0 or i + 1 == len(starts):
                optimizer.step()
                optimizer.zero_grad()
                steps.append(flat(model))
    return X.numpy(), y.numpy()[:, 0], theta0, np.array(steps)


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("kind", MODELS)
def test_accumulation_follows_the_pytorch_loop_step_for_step(kind, opt):
    torch.set_default_dtype(torch.float64)
    try:
        X, y, theta0, want = torch_steps(kind, opt)
    finally:
        torch.set_default_dtype(torch.float32)
    assert len(want) == EPOCHS * 5 and np.all(np.isfinite(want))
    assert np.abs(want[-1] - theta0).max() > 1e-2, "torch did not move: the comparison would be vacuous"
    name, kw = OPTIMIZERS[opt]
    if kind == "mlp":
        host = MLP(D, (6,), "tanh", "mse")
        settings = host.kernel_settings()
    else:
        settings = {"model": kind, "fit_intercept": 1}
    state = new_state(1, N, len(theta0))
    set_run(state, 0, params=theta0, **settings, optimizer=name, learning_rate=kw["lr"], batch=B, accumulate=K,
            shuffle=0, stride=1, **{k: v for k, v in kw.items() if k != "lr"})
    chunk = advance_batch(np.ascontiguousarray(X), np.ascontiguousarray(y), state, len(want))
    assert int(chunk.n_done[0]) == len(want)
    np.testing.assert_allclose(chunk.params[0, : len(want)], want, rtol=1e-10, atol=1e-13)
