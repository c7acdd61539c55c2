"""Recurrent layers as torch.nn: RNN, LSTM, GRU and RNNCell, LSTMCell, GRUCell.

Parameter names, shapes, gate orders, initialization, constructor checks and error
messages follow PyTorch. Each layer and direction computes its input projection for
all time steps with one matmul, then runs one fused Op (`engine.ops.rnn_cells`) that
loops over time for the hidden projection only. The graph is built per call, so
successive calls may use different sequence lengths and batch sizes.
Not supported: PackedSequence inputs and LSTM `proj_size > 0`.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ..errors import EngineRuntimeError, EngineTypeError, EngineValueError
from ..ops.creation import empty, zeros
from ..ops.join import cat, stack
from ..ops.rnn_cells import GRUSeq, LSTMSeq, RNNSeq
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_type(value, kind, name: str) -> None:
    if not isinstance(value, kind):
        raise EngineTypeError(f"{name} should be of type {kind.__name__}, got: "
                              f"{type(value).__name__}")


def _project(x, w):
    """The input projection of all time steps as one GEMM, feature-major:
    x (T, B, I) -> w @ x.reshape(T*B, I)^T of shape (G, T*B)."""
    T, B, I = x.shape
    return w.matmul(x.reshape(T * B, I).t())


def _run_direction(mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool):
    """One layer, one direction: (out (T,B,H), h_n, c_n or None)."""
    xg, kw = _project(x, w_ih), {"reverse": reverse, "seq_len": x.shape[0]}
    if mode == "GRU":
        biases = () if b_ih is None else (b_ih, b_hh)
        out, hn = GRUSeq.apply(xg, h0, w_hh, *biases, **kw)
        return out, hn, None
    bias = () if b_ih is None else (b_ih + b_hh,)
    if mode == "LSTM":
        return LSTMSeq.apply(xg, h0, c0, w_hh, *bias, **kw)
    out, hn = RNNSeq.apply(xg, h0, w_hh, *bias, relu=mode == "RNN_RELU", **kw)
    return out, hn, None


class RNNBase(Module):
    """Base of RNN, LSTM and GRU: parameters `weight_ih_l{k}`, `weight_hh_l{k}`,
    `bias_ih_l{k}`, `bias_hh_l{k}` (and `..._reverse` for the backward direction).

    >>> from engine import nn
    >>> [n for n, _ in nn.GRU(2, 3, bidirectional=True).named_parameters()][:5]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l0_reverse']
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1
                or isinstance(dropout, bool)):
            raise EngineValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got dropout="
                f"{dropout} and num_layers={num_layers}", stacklevel=2)
        _check_type(bias, bool, "bias")
        _check_type(batch_first, bool, "batch_first")
        _check_type(input_size, int, "input_size")
        if input_size <= 0:
            raise EngineValueError("input_size must be greater than zero")
        _check_type(hidden_size, int, "hidden_size")
        if hidden_size <= 0:
            raise EngineValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise EngineValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise EngineValueError(
                "proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise EngineValueError("proj_size has to be smaller than hidden_size")
        if proj_size:
            raise EngineRuntimeError("LSTM with proj_size > 0 is not supported by this engine")
        if mode not in _GATES:
            raise EngineValueError("Unrecognized RNN mode: " + mode)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(dirs):
                in_size = input_size if layer == 0 else hidden_size * dirs
                shapes = [(gate, in_size), (gate, hidden_size)] + ([(gate,), (gate,)] if bias
                                                                   else [])
                suffix = "_reverse" if direction == 1 else ""
                names = ["weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"][:len(shapes)]
                names = [f"{n}{layer}{suffix}" for n in names]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, device=device, dtype=dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op (PyTorch uses it for cuDNN's packed weights)."""

    @property
    def all_weights(self) -> list:
        """The parameters, one list per layer and direction."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        defaults = (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0),
                    ("bidirectional", False))
        return ", ".join([f"{self.input_size}, {self.hidden_size}"] + [
            f"{k}={getattr(self, k)}" for k, d in defaults if getattr(self, k) != d])

    # -- checks ---------------------------------------------------------------------------
    def _check_input(self, x) -> None:
        w = getattr(self, self._flat_weights_names[0])
        if x.dtype != w.dtype:
            raise EngineValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({x.dtype})")
        if x.dim() != 3:
            raise EngineRuntimeError(f"input must have 3 dimensions, got {x.dim()}")
        if self.input_size != x.shape[-1]:
            raise EngineRuntimeError(
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}")

    def _expected_hidden(self, x) -> tuple:
        batch = x.shape[0] if self.batch_first else x.shape[1]
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    @staticmethod
    def _check_hidden(hx, expected: tuple, msg: str = "Expected hidden size {}, got {}"):
        if tuple(hx.shape) != expected:
            raise EngineRuntimeError(msg.format(expected, list(hx.shape)))

    def _check_hx_dims(self, hx, batched: bool):
        """PyTorch's rank checks of hx; unbatched states get a batch dim of 1."""
        want = 3 if batched else 2
        kind = "batched 3-D" if batched else "unbatched 2-D"
        if self.mode == "LSTM":
            if hx[0].dim() != want or hx[1].dim() != want:
                raise EngineRuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got "
                    f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            return hx if batched else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        if hx.dim() != want:
            raise EngineRuntimeError(
                f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")
        return hx if batched else hx.unsqueeze(1)

    def forward(self, input, hx=None):
        """(output, h_n) for RNN and GRU, (output, (h_n, c_n)) for LSTM."""
        lstm = self.mode == "LSTM"
        name = self.mode if self.mode in ("LSTM", "GRU") else "RNN"
        if input.dim() not in (2, 3):
            what = "tensor instead" if name == "RNN" else "instead"
            raise EngineValueError(
                f"{name}: Expected input to be 2D or 3D, got {input.dim()}D {what}")
        batched = input.dim() == 3
        bdim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(bdim)
        expected = self._expected_hidden(input)
        if hx is None:
            h0 = zeros(*expected, dtype=input.dtype, device=input.device)
            hx = (h0, h0) if lstm else h0
        else:
            hx = self._check_hx_dims(hx, batched)
        self._check_input(input)
        if lstm:
            self._check_hidden(hx[0], expected, "Expected hidden[0] size {}, got {}")
            self._check_hidden(hx[1], expected, "Expected hidden[1] size {}, got {}")
        else:
            self._check_hidden(hx, expected)
        x = input.transpose(0, 1) if self.batch_first else input
        if x.shape[0] == 0:
            raise EngineRuntimeError("Expected sequence length to be larger than 0 in RNN")
        out, hn, cn = self._run(x, *(hx if lstm else (hx,)))
        if self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out, hn = out.squeeze(bdim), hn.squeeze(1)
            cn = None if cn is None else cn.squeeze(1)
        return (out, (hn, cn)) if lstm else (out, hn)

    # -- the computation -------------------------------------------------------------------
    def _run(self, x, h0, c0=None):
        """x (T,B,I) time-major; h0/c0 (L*D,B,H). Returns (output, h_n, c_n or None)."""
        dirs = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                p = [getattr(self, n) for n in self._all_weights[k]]
                b_ih, b_hh = (p[2], p[3]) if self.bias else (None, None)
                out, hn, cn = _run_direction(self.mode, x, h0[k], None if c0 is None else c0[k],
                                             p[0], p[1], b_ih, b_hh, d == 1)
                outs.append(out)
                hs.append(hn)
                cs.append(cn)
            x = outs[0] if dirs == 1 else cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, stack(hs), (None if c0 is None else stack(cs))


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    forward(input, hx=None) -> (output, h_n).

    >>> import engine
    >>> from engine import nn
    >>> rnn = nn.RNN(4, 8, num_layers=2)
    >>> out, h = rnn(engine.randn(5, 3, 4))
    >>> out.shape, h.shape
    (engine.Size([5, 3, 8]), engine.Size([2, 3, 8]))
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise EngineValueError(
                "proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity not in ("tanh", "relu"):
            raise EngineValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from "
                                   "'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", *args,
                         **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n as PyTorch). forward(input, hx=None) ->
    (output, h_n).

    >>> import engine
    >>> from engine import nn
    >>> gru = nn.GRU(4, 8, batch_first=True, bidirectional=True)
    >>> out, h = gru(engine.randn(3, 5, 4))
    >>> out.shape, h.shape
    (engine.Size([3, 5, 16]), engine.Size([2, 3, 8]))
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise EngineValueError(
                "proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o as PyTorch). forward(input, hx=None) ->
    (output, (h_n, c_n)).

    >>> import engine
    >>> from engine import nn
    >>> lstm = nn.LSTM(4, 8)
    >>> out, (h, c) = lstm(engine.randn(5, 3, 4))
    >>> out.shape, h.shape, c.shape
    (engine.Size([5, 3, 8]), engine.Size([1, 3, 8]), engine.Size([1, 3, 8]))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class RNNCellBase(Module):
    """Base of the cells: `weight_ih` (chunks*hidden, input), `weight_hh`, `bias_ih`,
    `bias_hh`, all U(-1/sqrt(hidden), 1/sqrt(hidden)).

    >>> from engine import nn
    >>> nn.LSTMCell(3, 5).weight_ih.shape
    engine.Size([20, 3])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(g, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(empty(g, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(g, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(g, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, name: str, input, states: list, labels: list[str]):
        """Check dims and sizes as PyTorch; returns (input (B,I), states (B,H), batched)."""
        if input.dim() not in (1, 2):
            raise EngineValueError(
                f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for label, s in zip(labels, states):
            if s is not None and s.dim() not in (1, 2):
                raise EngineValueError(
                    f"{name}: Expected {label} to be 1D or 2D, got {s.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if states[0] is None:
            z = zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
            states = [z] * len(states)
        elif not batched:
            states = [s.unsqueeze(0) for s in states]
        if input.shape[1] != self.input_size:
            raise EngineRuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                                     f"expected {self.input_size}")
        for k, s in enumerate(states):
            if input.shape[0] != s.shape[0]:
                raise EngineRuntimeError(f"Input batch size {input.shape[0]} doesn't match "
                                         f"hidden{k} batch size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise EngineRuntimeError(f"hidden{k} has inconsistent hidden_size: got "
                                         f"{s.shape[1]}, expected {self.hidden_size}")
        return input, states, batched

    def _step(self, mode: str, input, h, c=None):
        _, hn, cn = _run_direction(mode, input.unsqueeze(0), h, c, self.weight_ih,
                                   self.weight_hh, self.bias_ih, self.bias_hh, False)
        return hn, cn


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    >>> import engine
    >>> from engine import nn
    >>> nn.RNNCell(4, 6)(engine.randn(3, 4)).shape
    engine.Size([3, 6])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare("RNNCell", input, [hx], ["hidden"])
        if self.nonlinearity not in ("tanh", "relu"):
            raise EngineRuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        hn, _ = self._step("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input, h)
        return hn if batched else hn.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: forward(input, (h, c)=None) -> (h', c').

    >>> import engine
    >>> from engine import nn
    >>> h, c = nn.LSTMCell(4, 6)(engine.randn(3, 4))
    >>> h.shape, c.shape
    (engine.Size([3, 6]), engine.Size([3, 6]))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        states = [None, None] if hx is None else list(hx)
        input, (h, c), batched = self._prepare("LSTMCell", input, states, ["hx[0]", "hx[1]"])
        hn, cn = self._step("LSTM", input, h, c)
        return (hn, cn) if batched else (hn.squeeze(0), cn.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: forward(input, hx=None) -> h'.

    >>> import engine
    >>> from engine import nn
    >>> nn.GRUCell(4, 6)(engine.randn(4)).shape
    engine.Size([6])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        input, (h,), batched = self._prepare("GRUCell", input, [hx], ["hidden"])
        hn, _ = self._step("GRU", input, h)
        return hn if batched else hn.squeeze(0)
