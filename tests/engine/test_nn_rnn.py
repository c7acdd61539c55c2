"""nn.RNN / LSTM / GRU and their cells: parity with PyTorch (values and gradients, same
weights through state_dict), float64 gradchecks of the fused sequence ops (first and
second order), PyTorch's checks and messages, and a dynamic-graph training loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
import engine.nn.functional as F
import engine.optim as optim
from engine import nn
from tests.engine.helpers import DEVICES, needs_torch, to_np, torch

T_, B_, I_, H_ = 4, 3, 5, 6
MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"batch_first": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"bias": False, "num_layers": 2},
]


def _pair(mode: str, **kw):
    model = getattr(nn, mode)(I_, H_, **kw)
    ref = getattr(torch.nn, mode)(I_, H_, **kw)
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in model.state_dict().items()})
    return model, ref


def _hidden(mode: str, out):
    """(output, [hidden tensors]) of an RNN/GRU/LSTM result."""
    return out[0], (list(out[1]) if mode == "LSTM" else [out[1]])


def _compare(model, ref, mode, x, hx=None, tol=1e-5):
    """Forward and backward of out and hidden states against torch."""
    rng = np.random.default_rng(1)
    ex = engine.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ehx = thx = None
    if hx is not None:
        ehx = [engine.tensor(h, requires_grad=True) for h in hx]
        thx = [torch.tensor(h, requires_grad=True) for h in hx]
    pack = (lambda hs: tuple(hs)) if mode == "LSTM" else (lambda hs: hs[0])
    eout, ehs = _hidden(mode, model(ex, None if ehx is None else pack(ehx)))
    tout, ths = _hidden(mode, ref(tx, None if thx is None else pack(thx)))
    np.testing.assert_allclose(to_np(eout), to_np(tout), atol=tol, rtol=1e-4)
    for e, t in zip(ehs, ths):
        np.testing.assert_allclose(to_np(e), to_np(t), atol=tol, rtol=1e-4)
    seeds = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in [tout, *ths]]
    engine.autograd.backward([eout, *ehs], [engine.tensor(s) for s in seeds])
    torch.autograd.backward([tout, *ths], [torch.tensor(s) for s in seeds])
    np.testing.assert_allclose(to_np(ex.grad), to_np(tx.grad), atol=1e-4, rtol=1e-4)
    for (name, p), (tname, tp) in zip(model.named_parameters(), ref.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(to_np(p.grad), to_np(tp.grad), atol=1e-4, rtol=1e-4,
                                   err_msg=name)
    if hx is not None:
        for e, t in zip(ehx, thx):
            np.testing.assert_allclose(to_np(e.grad), to_np(t.grad), atol=1e-4, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("mode,extra", MODES, ids=lambda v: str(v))
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
                         or "default")
def test_parity_with_torch(mode, extra, cfg):
    model, ref = _pair(mode, **extra, **cfg)
    rng = np.random.default_rng(0)
    shape = (B_, T_, I_) if cfg.get("batch_first") else (T_, B_, I_)
    _compare(model, ref, mode, rng.standard_normal(shape).astype(np.float32))


@needs_torch
@pytest.mark.parametrize("mode,extra", MODES, ids=lambda v: str(v))
def test_parity_with_initial_state_and_unbatched(mode, extra):
    model, ref = _pair(mode, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(2)
    n_states = 2 if mode == "LSTM" else 1
    x = rng.standard_normal((T_, B_, I_)).astype(np.float32)
    hx = [rng.standard_normal((4, B_, H_)).astype(np.float32) for _ in range(n_states)]
    _compare(model, ref, mode, x, hx)
    # unbatched: (T, I) input and (L*D, H) states
    _compare(model, ref, mode, x[:, 0], [h[:, 0] for h in hx])
    _compare(model, ref, mode, x[:, 0])


@needs_torch
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_state_dict_matches_torch(mode):
    model, ref = _pair(mode, num_layers=2, bidirectional=True)
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert list(mine) == list(theirs) and mine == theirs
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in model.state_dict().items()})
    model.load_state_dict({k: engine.tensor(v.numpy()) for k, v in ref.state_dict().items()})


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_default_init_is_uniform_in_one_over_sqrt_hidden(cls):
    engine.manual_seed(0)
    model = cls(16, 64)
    bound = 1 / np.sqrt(64)
    for p in model.parameters():
        a = to_np(p)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
        assert abs(a.mean()) < 0.1 * bound


@needs_torch
@pytest.mark.parametrize("make", [
    lambda m: m.LSTM(10, 20),
    lambda m: m.RNN(10, 20, nonlinearity="relu"),
    lambda m: m.LSTM(10, 20, 2, dropout=0.5, bidirectional=True, batch_first=True),
    lambda m: m.GRU(10, 20, bias=False),
    lambda m: m.RNNCell(3, 4, nonlinearity="relu", bias=False),
    lambda m: m.LSTMCell(3, 4),
    lambda m: m.GRUCell(3, 4, bias=False),
])
def test_repr_matches_torch(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert repr(make(nn)) == repr(make(torch.nn))


def _error(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - comparing the exception itself
            return e
    return None


@needs_torch
@pytest.mark.parametrize("case", [
    lambda m, lib: m.LSTM(10, 20, dropout=1.5),
    lambda m, lib: m.LSTM(10, 0),
    lambda m, lib: m.LSTM(10, 20, num_layers=0),
    lambda m, lib: m.GRU(10, 20, proj_size=2),
    lambda m, lib: m.RNN(10, 20, nonlinearity="gelu"),
    lambda m, lib: m.LSTM(10, 20, bias=1),
    lambda m, lib: m.LSTM(10, 20)(lib.zeros(5, 3, 7)),
    lambda m, lib: m.LSTM(10, 20)(lib.zeros(5, 3, 10, 1)),
    lambda m, lib: m.GRU(10, 20)(lib.zeros(5, 3, 10, 1)),
    lambda m, lib: m.RNN(10, 20)(lib.zeros(5, 3, 10, 1)),
    lambda m, lib: m.LSTM(10, 20)(lib.zeros(5, 3, 10, dtype=lib.float64)),
    lambda m, lib: m.LSTM(10, 20, 2)(lib.zeros(5, 3, 10), (lib.zeros(1, 3, 20),
                                                           lib.zeros(2, 3, 20))),
    lambda m, lib: m.LSTM(10, 20)(lib.zeros(5, 3, 10), (lib.zeros(3, 20), lib.zeros(3, 20))),
    lambda m, lib: m.GRU(10, 20)(lib.zeros(5, 3, 10), lib.zeros(1, 2, 20)),
    lambda m, lib: m.GRU(10, 20)(lib.zeros(5, 10), lib.zeros(1, 1, 20)),
    lambda m, lib: m.RNN(10, 20)(lib.zeros(5, 3, 10), lib.zeros(3, 20)),
    lambda m, lib: m.LSTM(10, 20)(lib.zeros(0, 3, 10)),
    lambda m, lib: m.LSTMCell(10, 20)(lib.zeros(3, 5)),
    lambda m, lib: m.LSTMCell(10, 20)(lib.zeros(3, 10), (lib.zeros(3, 7), lib.zeros(3, 20))),
    lambda m, lib: m.LSTMCell(10, 20)(lib.zeros(3, 10), (lib.zeros(2, 20), lib.zeros(2, 20))),
    lambda m, lib: m.GRUCell(10, 20)(lib.zeros(3, 10, 1)),
    lambda m, lib: m.RNNCell(10, 20)(lib.zeros(3, 10), lib.zeros(3, 20, 1)),
])
def test_errors_match_torch(case):
    mine = _error(lambda: case(nn, engine))
    theirs = _error(lambda: case(torch.nn, torch))
    assert theirs is not None and mine is not None
    assert isinstance(mine, type(theirs))
    assert str(mine).replace("engine.", "torch.") == str(theirs)


def test_dropout_warning_and_eval_mode_is_deterministic():
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last"):
        nn.LSTM(3, 4, dropout=0.5)
    engine.manual_seed(0)
    model = nn.GRU(3, 8, num_layers=3, dropout=0.5)
    x = engine.randn(6, 2, 3)
    a, b = model(x)[0], model(x)[0]
    assert not np.allclose(to_np(a), to_np(b))  # training: dropout between layers
    model.eval()
    a, b = model(x)[0], model(x)[0]
    np.testing.assert_array_equal(to_np(a), to_np(b))
    clean = nn.GRU(3, 8, num_layers=3)
    clean.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(to_np(clean(x)[0]), to_np(a))


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_empty_batch(mode):
    model = getattr(nn, mode)(3, 4, bidirectional=True)
    x = engine.zeros(5, 0, 3, requires_grad=True)
    out = model(x)[0]
    out.sum().backward()
    assert out.shape == (5, 0, 8) and x.grad.shape == x.shape


def test_sequence_lengths_vary_between_calls():
    model = nn.LSTM(3, 4, batch_first=True)
    for t in (1, 7, 3):
        out, (h, c) = model(engine.randn(2, t, 3))
        assert out.shape == (2, t, 4) and h.shape == (1, 2, 4)
        np.testing.assert_allclose(to_np(out[:, -1]), to_np(h[0]), rtol=1e-6)


# -- fused sequence ops: float64 gradchecks -------------------------------------------------
def _f64(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return engine.tensor(rng.uniform(-1, 1, shape), dtype=engine.float64, requires_grad=True)


OPS = [
    ("lstm", False), ("lstm", True), ("lstm_nobias", False), ("gru", False), ("gru", True),
    ("gru_nobias", False), ("tanh", True), ("tanh_nobias", False), ("relu", False),
]


def _op_case(kind: str, reverse: bool):
    """(fn, inputs) running one fused sequence op on tiny float64 inputs (feature-major
    input projection of shape (G, T*B)); fn returns the op's outputs."""
    from engine.ops.rnn_cells import GRUSeq, LSTMSeq, RNNSeq

    T, B, H = 3, 2, 2
    gates = {"lstm": 4, "gru": 3}.get(kind.split("_")[0], 1)
    ins = [_f64(gates * H, T * B), _f64(B, H, seed=1)]
    if kind.startswith("lstm"):
        ins.append(_f64(B, H, seed=2))
    ins.append(_f64(gates * H, H, seed=3))
    if not kind.endswith("nobias"):
        ins += [_f64(gates * H, seed=4 + k) for k in range(2 if kind == "gru" else 1)]
    if kind == "relu":  # keep pre-activations away from the kink at 0
        ins[0] = engine.tensor(np.abs(to_np(ins[0])) + 0.5, requires_grad=True)
    if kind.startswith("lstm"):
        return (lambda *a: LSTMSeq.apply(*a, reverse=reverse)), ins
    if kind.startswith("gru"):
        return (lambda *a: GRUSeq.apply(*a, reverse=reverse)), ins
    return (lambda *a: RNNSeq.apply(*a, relu=kind == "relu", reverse=reverse)), ins


@pytest.mark.parametrize("kind,reverse", OPS)
def test_fused_op_gradcheck(kind, reverse):
    fn, ins = _op_case(kind, reverse)
    assert engine.autograd.gradcheck(fn, ins)


@pytest.mark.parametrize("kind,reverse", OPS)
def test_fused_op_double_backward(kind, reverse):
    fn, ins = _op_case(kind, reverse)
    assert engine.autograd.gradgradcheck(lambda *a: sum((o * o).sum() for o in fn(*a)), ins)


@pytest.mark.parametrize("kind,reverse", OPS)
def test_graph_backward_equals_raw_backward(kind, reverse):
    """The create_graph path (Tensor ops) and the raw-array path give the same grads."""
    fn, ins = _op_case(kind, reverse)
    outs = fn(*ins)
    seeds = [engine.randn(*o.shape, dtype=engine.float64) for o in outs]
    raw = engine.autograd.grad(outs, ins, seeds, retain_graph=True)
    graph = engine.autograd.grad(outs, ins, seeds, create_graph=True)
    for a, b in zip(raw, graph):
        assert b.requires_grad
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_gradcheck(cls):
    cell = cls(2, 3).double()
    x = _f64(2, 2)
    h = _f64(2, 3, seed=5)
    if cls is nn.LSTMCell:
        c = _f64(2, 3, seed=6)
        assert engine.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), [x, h, c])
    else:
        assert engine.autograd.gradcheck(lambda x, h: cell(x, h), [x, h])
    params = list(cell.parameters())
    assert engine.autograd.gradcheck(
        lambda *p: _with_params(cell, p, x.detach(), h.detach()), params)


def _with_params(cell, params, x, h):
    for (name, _), p in zip(list(cell.named_parameters()), params):
        cell._parameters[name] = p
    out = cell(x, (h, h) if isinstance(cell, nn.LSTMCell) else h)
    return out[0] if isinstance(out, tuple) else out


@needs_torch
@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name, bias, batched):
    kw = {"nonlinearity": "relu"} if name == "RNNCell" and bias else {}
    cell = getattr(nn, name)(I_, H_, bias=bias, **kw)
    ref = getattr(torch.nn, name)(I_, H_, bias=bias, **kw)
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in cell.state_dict().items()})
    rng = np.random.default_rng(3)
    shape = (B_,) if batched else ()
    x = rng.standard_normal((*shape, I_)).astype(np.float32)
    hs = [rng.standard_normal((*shape, H_)).astype(np.float32)
          for _ in range(2 if name == "LSTMCell" else 1)]
    for with_state in (True, False):
        ex, tx = engine.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        eh = [engine.tensor(h) for h in hs]
        th = [torch.tensor(h) for h in hs]
        if name == "LSTMCell":
            eo = cell(ex, tuple(eh) if with_state else None)
            to = ref(tx, tuple(th) if with_state else None)
        else:
            eo = (cell(ex, eh[0] if with_state else None),)
            to = (ref(tx, th[0] if with_state else None),)
        for e, t in zip(eo, to):
            np.testing.assert_allclose(to_np(e), to_np(t), atol=1e-5, rtol=1e-4)
        sum((o * o).sum() for o in eo).backward()
        sum((o * o).sum() for o in to).backward()
        np.testing.assert_allclose(to_np(ex.grad), to_np(tx.grad), atol=1e-5, rtol=1e-4)
        for p, tp in zip(cell.parameters(), ref.parameters()):
            np.testing.assert_allclose(to_np(p.grad), to_np(tp.grad), atol=1e-5, rtol=1e-4)
        cell.zero_grad()
        ref.zero_grad()


def test_output_modified_in_place_raises_on_backward():
    model = nn.LSTM(2, 3)
    out, _ = model(engine.randn(4, 1, 2))
    out.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_double_backward_through_lstm_module():
    """A gradient penalty: d/dW of |d loss / d x|^2 (create_graph through the layer)."""
    model = nn.LSTM(2, 3).double()
    x = _f64(3, 2, 2)
    out, _ = model(x)
    (gx,) = engine.autograd.grad((out * out).sum(), x, create_graph=True)
    (gx * gx).sum().backward()
    assert all(p.grad is not None and np.isfinite(to_np(p.grad)).all()
               for p in model.parameters())


class _Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 16, batch_first=True)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


def test_lstm_classifier_trains_over_varying_sequence_lengths():
    """Dynamic graph: each batch has its own length; the label is whether the sum of the
    first feature over the sequence is positive."""
    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    model = _Classifier()
    opt = optim.Adam(model.parameters(), lr=0.02)

    def batch(t):
        x = rng.standard_normal((16, t, 4)).astype(np.float32)
        return engine.tensor(x), engine.tensor((x[:, :, 0].sum(1) > 0).astype(np.int64))

    def loss_on(batches):
        with engine.no_grad():
            return float(sum(F.cross_entropy(model(x), y).item() for x, y in batches))

    held_out = [batch(t) for t in (3, 9, 6)]
    before = loss_on(held_out)
    for step in range(60):
        x, y = batch([2, 5, 9, 4][step % 4])
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert loss_on(held_out) < 0.6 * before


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_runs_on_device(device, mode):
    model = getattr(nn, mode)(3, 4, bidirectional=True).to(device)
    x = engine.randn(5, 2, 3, device=device, requires_grad=True)
    out = model(x)[0]
    out.sum().backward()
    assert out.device == engine.backend.resolve(device) and x.grad.shape == x.shape
