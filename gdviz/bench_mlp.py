"""``gdviz bench --model mlp``: one epoch of the first article's network, gdviz against PyTorch.

The problem is the first article's: ``n`` rows (default 1,000) of 10 standard-normal features
and a standard-normal target, ``10 → 50 → 1`` ReLU, MSE, plain SGD (lr 0.01), float32, one
epoch with its fresh shuffle, after a warm-up epoch; the best of ``repeats`` epochs is
reported (the machine may be shared). Batch sizes 1, 32, 64 and the full batch, one run; and
64 runs at once at batch 64 (a seed ensemble: gdviz's threaded ``advance_batch`` over 64 runs,
against ``torch.func.vmap`` and ``jax.vmap`` under ``jax.jit`` (an epoch as one ``lax.scan``,
compiled ahead of time; its compile seconds reported apart) over 64 stacked models with one
shared order per step).

PyTorch and JAX are optional: without them only gdviz's figures are printed. Each PyTorch figure is the
faster of 1 thread and Numba's thread count (on a busy 2-core machine, two intra-op threads
made torch's small batches 10-50× slower than one); ``torch_threads`` says which.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gdviz.mlp import MLP

BATCHES = (1, 32, 64, None)
ENSEMBLE = 64


def _gdviz_epoch(X: np.ndarray, y: np.ndarray, model: MLP, B: int, runs: int, repeats: int) -> float:
    from gdviz.kernels import advance_batch, new_state, set_run

    n = X.shape[0]
    state = new_state(runs, n, model.n_params, X.dtype)
    for r in range(runs):
        set_run(state, r, params=MLP(model.d, model.hidden, init_seed=r).initial_params(), **model.kernel_settings(),
                optimizer="sgd", learning_rate=0.01, batch=B, shuffle=1, seed=r, stride=1 << 40)
    upe = -(-n // B)
    advance_batch(X, y, state, upe, parallel=runs > 1)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        advance_batch(X, y, state, upe, parallel=runs > 1)
        best = min(best, time.perf_counter() - t)
    return best


def _best_threads(fn: Any, *args: Any) -> tuple[float, int]:
    """``fn(*args)`` timed with torch on 1 thread and on Numba's thread count: the faster, and its threads."""
    import numba
    import torch

    before = torch.get_num_threads()
    best = (float("inf"), 1)
    try:
        for threads in sorted({1, int(numba.get_num_threads())}):
            torch.set_num_threads(threads)
            best = min(best, (fn(*args), threads))
    finally:
        torch.set_num_threads(before)
    return best


def _torch_epoch(X: np.ndarray, y: np.ndarray, B: int, repeats: int) -> float:
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)[:, None]
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 50), torch.nn.ReLU(), torch.nn.Linear(50, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()
    n = X.shape[0]

    def epoch() -> None:
        order = torch.randperm(n) if B < n else torch.arange(n)
        for s in range(0, n, B):
            idx = order[s : s + B]
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()

    epoch()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t)
    return best


def _torch_vmap_epoch(X: np.ndarray, y: np.ndarray, B: int, runs: int, repeats: int) -> float:
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap

    nets = [torch.nn.Sequential(torch.nn.Linear(X.shape[1], 50), torch.nn.ReLU(), torch.nn.Linear(50, 1))
            for _ in range(runs)]
    params, buffers = stack_module_state(nets)
    base = nets[0]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)[:, None]

    def loss(p: Any, b: Any, xb: Any, yb: Any) -> Any:
        return torch.nn.functional.mse_loss(functional_call(base, (p, b), (xb,)), yb)

    step = vmap(grad(loss), in_dims=(0, 0, None, None))
    n = X.shape[0]

    def epoch() -> None:
        order = torch.randperm(n)
        for s in range(0, n, B):
            idx = order[s : s + B]
            g = step(params, buffers, Xt[idx], yt[idx])
            with torch.no_grad():
                for k in params:
                    params[k] -= 0.01 * g[k]

    epoch()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t)
    return best / runs


def _jax_vmap_epoch(X: np.ndarray, y: np.ndarray, B: int, runs: int, repeats: int) -> tuple[float, float]:
    """``jax.vmap`` of ``jax.grad`` over ``runs`` stacked networks under ``jax.jit``, the epoch a
    ``lax.scan`` over the batches of one shared order: (seconds per run and epoch, compile seconds)."""
    import jax
    import jax.numpy as jnp

    n, d = X.shape
    h = 50
    nb, rest = divmod(n, B)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    lim1, lim2 = 1 / np.sqrt(d), 1 / np.sqrt(h)  # nn.Linear's uniform init
    params = (jax.random.uniform(keys[0], (runs, h, d), jnp.float32, -lim1, lim1),
              jax.random.uniform(keys[1], (runs, h), jnp.float32, -lim1, lim1),
              jax.random.uniform(keys[2], (runs, 1, h), jnp.float32, -lim2, lim2),
              jax.random.uniform(keys[3], (runs, 1), jnp.float32, -lim2, lim2))

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        W1, b1, W2, b2 = p
        out = jax.nn.relu(xb @ W1.T + b1) @ W2.T + b2
        return jnp.mean((out[:, 0] - yb) ** 2)

    vgrad = jax.vmap(jax.grad(loss), in_axes=(0, None, None))

    def sgd(p: Any, xb: Any, yb: Any) -> Any:
        return jax.tree_util.tree_map(lambda a, g: a - 0.01 * g, p, vgrad(p, xb, yb))

    def epoch(p: Any, X: Any, y: Any, key: Any) -> Any:
        perm = jax.random.permutation(key, n)
        X, y = X[perm], y[perm]
        p, _ = jax.lax.scan(lambda c, xy: (sgd(c, xy[0], xy[1]), None), p,
                            (X[: nb * B].reshape(nb, B, d), y[: nb * B].reshape(nb, B)))
        return sgd(p, X[nb * B :], y[nb * B :]) if rest else p

    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    key = jax.random.PRNGKey(1)
    t0 = time.perf_counter()
    step = jax.jit(epoch).lower(params, Xj, yj, key).compile()
    compile_s = time.perf_counter() - t0
    params = step(params, Xj, yj, key)
    best = float("inf")
    for _ in range(repeats):
        key, sub = jax.random.split(key)
        t = time.perf_counter()
        params = step(params, Xj, yj, sub)
        jax.block_until_ready(params)
        best = min(best, time.perf_counter() - t)
    return best / runs, compile_s


def bench_mlp(n: int = 1000, repeats: int = 5, peers: bool = True) -> dict[str, Any]:
    """The figures as a JSON-ready dict: ``rows`` of ``{impl, batch, runs, seconds_per_epoch}``
    (per run for ensembles) and ``ratios`` (torch's time ÷ gdviz's, above 1: gdviz faster)."""
    import importlib.util

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 10)).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    model = MLP(10, (50,))
    have_torch = peers and importlib.util.find_spec("torch") is not None
    have_jax = peers and importlib.util.find_spec("jax") is not None
    rows: list[dict[str, Any]] = []
    ratios: dict[str, float] = {}
    for B in (*BATCHES, "ensemble"):
        batch = min(n, 64 if B == "ensemble" else (n if B is None else int(B)))
        runs = ENSEMBLE if B == "ensemble" else 1
        ours = _gdviz_epoch(X, y, model, batch, runs, repeats) / runs
        rows.append({"impl": "gdviz", "batch": batch, "runs": runs, "seconds_per_epoch": ours})
        if have_torch:
            if B == "ensemble":
                impl = "torch-vmap"
                theirs, threads = _best_threads(_torch_vmap_epoch, X, y, batch, runs, max(1, repeats // 2))
            else:
                impl = "torch-eager"
                theirs, threads = _best_threads(_torch_epoch, X, y, batch, max(1, repeats // 2) if batch == 1 else repeats)
            rows.append({"impl": impl, "batch": batch, "runs": runs, "seconds_per_epoch": theirs,
                         "torch_threads": threads})
            ratios[f"{impl} batch {batch} x{runs}"] = theirs / ours
        if have_jax and B == "ensemble":
            theirs, compile_s = _jax_vmap_epoch(X, y, batch, runs, repeats)
            rows.append({"impl": "jax-vmap", "batch": batch, "runs": runs, "seconds_per_epoch": theirs,
                         "compile_seconds": compile_s})
            ratios[f"jax-vmap batch {batch} x{runs}"] = theirs / ours
    return {"problem": f"mlp 10→50→1 relu, mse, sgd lr 0.01, float32, n = {n}", "rows": rows, "ratios": ratios}


def cli_main(args: Any, out: Any, err: Any) -> int:
    """``gdviz bench --model mlp``: the table (or ``--json``)."""
    import json
    import sys

    from rich.table import Table

    n = args.n[0] if args.n != [100_000, 1_000_000] else 1000
    with err.status("Timing the MLP epochs…"):
        result = bench_mlp(n=n, repeats=args.repeats, peers=args.peers)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    table = Table(title=result["problem"], title_justify="left")
    for col in ("impl", "batch", "runs", "s/epoch (per run)", "torch threads", "compile"):
        table.add_column(col, justify="left" if col == "impl" else "right")
    for row in result["rows"]:
        table.add_row(row["impl"], str(row["batch"]), str(row["runs"]), f"{row['seconds_per_epoch'] * 1e3:.3g} ms",
                      str(row.get("torch_threads", "")),
                      f"{row['compile_seconds']:.2f} s" if "compile_seconds" in row else "")
    out.print(table)
    for name, ratio in result["ratios"].items():
        out.print(f"{name}: the peer's time ÷ gdviz's = {ratio:.3g}")
    return 0
