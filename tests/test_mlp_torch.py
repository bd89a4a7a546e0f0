"""Step-for-step equality with PyTorch: the same MLP, the same initial parameters, the same
data order (``shuffle = false``), trained by ``torch.optim`` and by the kernels in float64;
the parameters agree to rel 1e-9 after every epoch. Skipped when torch is not installed
(it is an optional peer: ``pip install -e '.[peers]'``)."""

import numpy as np
import pytest

from gdviz.kernels import advance_batch, new_state, set_run
from gdviz.mlp import MLP

torch = pytest.importorskip("torch")

N, D, EPOCHS = 64, 10, 3
# Every setting spelled out: torch's defaults are not the kernels' zeros.
OPTIMIZERS = {
    "sgd-momentum": ("sgd", dict(lr=0.002, momentum=0.9)),
    "sgd-nesterov": ("sgd", dict(lr=0.002, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": ("adam", dict(lr=0.001, betas=(0.9, 0.999), eps=1e-8)),
    "rmsprop": ("rmsprop", dict(lr=0.001, alpha=0.99, eps=1e-8, momentum=0.5, centered=True)),
}
NETS = {"10-50-1-relu-mse": ((50,), "relu", "mse"), "10-8-6-1-tanh-bce": ((8, 6), "tanh", "bce")}


def torch_net(hidden, activation):
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[activation]
    sizes = [D, *hidden]
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), act()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 1))


@pytest.mark.parametrize("batch", [1, 32, N], ids=["stochastic", "batch32", "full"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("net", list(NETS))
def test_kernels_follow_torch_epoch_by_epoch(net, opt, batch):
    hidden, activation, loss = NETS[net]
    name, kw = OPTIMIZERS[opt]
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        X = torch.randn(N, D)
        y = torch.randn(N, 1) if loss == "mse" else (torch.randn(N, 1) > 0).double()
        model = torch_net(hidden, activation)
        theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()
        optim = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[name]
        optimizer = optim(model.parameters(), **kw)
        criterion = torch.nn.MSELoss() if loss == "mse" else torch.nn.BCEWithLogitsLoss()
        want = []
        for _ in range(EPOCHS):
            for s in range(0, N, batch):
                optimizer.zero_grad()
                criterion(model(X[s : s + batch]), y[s : s + batch]).backward()
                optimizer.step()
            want.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy())
    finally:
        torch.set_default_dtype(torch.float32)

    assert np.all(np.isfinite(want[-1])), "torch diverged: the comparison would be vacuous"
    host = MLP(D, hidden, activation, loss)
    Xn, yn = np.ascontiguousarray(X.numpy()), np.ascontiguousarray(y.numpy()[:, 0])
    state = new_state(1, N, host.n_params)
    hyper = {k: v for k, v in kw.items() if k != "lr"}
    set_run(state, 0, params=theta0, **host.kernel_settings(), optimizer=name, learning_rate=kw["lr"], batch=batch,
            shuffle=0, **hyper)
    for epoch in range(EPOCHS):
        advance_batch(Xn, yn, state, -(-N // batch))
        np.testing.assert_allclose(state.params[0], want[epoch], rtol=1e-9, atol=1e-12, err_msg=f"epoch {epoch + 1}")
