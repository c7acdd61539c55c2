"""Fused recurrent layers: one Op runs a whole sequence of one RNN/LSTM/GRU layer in one
direction, so the graph holds one node per layer and direction instead of ~15 per step.

Inputs: `xg`, the input projection of all time steps, *feature-major*: shape (G, T*B)
with column t*B + b for time t and batch row b (`W_ih @ x.reshape(T*B, I).T`, one GEMM
outside, recorded as an ordinary matmul), the initial state(s) (B, H), `w_hh` (G, H)
and the biases. Inside, states are kept transposed, (H, B) per step: the per-step
product `W_hh @ h^T` (M=G, N=B) runs much faster in BLAS than `h @ W_hh^T` (M=B) for
small batches, and the weight and input gradients become single GEMMs over all steps.
The output (T, B, H) is a transposed view of the internal state buffer.

Backward has two paths:
- grad mode off inside backward (the usual `loss.backward()`): backpropagation through
  time on raw arrays, gate-derivative factors precomputed for all steps at once, one
  matmul and a handful of in-place ufuncs per step.
- `create_graph=True`: the forward is recomputed from the saved inputs with Tensor ops and
  the same hand-derived BPTT is written in Tensor ops, so double backward works.

Gate orders are PyTorch's: LSTM (i, f, g, o); GRU (r, z, n) with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""

from __future__ import annotations

from ..autograd.grad_mode import _state
from ..autograd.node import Op
from ..backend import xp_of
from ..tensor import Tensor
from .indexing import device_ctx

__all__: list[str] = []


def _sigmoid_(a, xp) -> None:
    """a <- sigmoid(a) in place, as 0.5 tanh(a / 2) + 0.5 (no overflow, no warnings)."""
    xp.multiply(a, 0.5, out=a)
    xp.tanh(a, out=a)
    xp.multiply(a, 0.5, out=a)
    xp.add(a, 0.5, out=a)


def _steps(T: int, reverse: bool):
    """(t, index of h_{t-1}, index of h_t) in a (T + 1)-long state buffer, in run order."""
    if reverse:
        return [(t, t + 1, t) for t in range(T - 1, -1, -1)]
    return [(t, t, t + 1) for t in range(T)]


def _span(T: int, reverse: bool):
    """(slice of h_0..h_{T-1}, slice of h_{t-1} for each t) in a (T + 1)-long buffer."""
    return (slice(0, T), slice(1, T + 1)) if reverse else (slice(1, T + 1), slice(0, T))


class _SeqOp(Op):
    """Shared plumbing. Subclasses implement forward, `_raw_backward` (arrays) and
    `_graph_backward` (Tensors). The output is saved so in-place edits are caught."""

    _buffers: tuple = ()  # names of the raw arrays kept for backward

    def release(self) -> None:
        super().release()
        for name in self._buffers:
            setattr(self, name, None)

    def backward(self, g_out, *g_state):
        self.saved_output  # noqa: B018 - raises if the output was modified in place
        inputs = self.saved_inputs
        if _state.enabled:  # create_graph: differentiable Tensor-op backward
            grads = self._graph_backward(inputs, g_out, *g_state)
        else:
            dev = inputs[0]._device
            with device_ctx(dev):
                xp = xp_of(g_out._data)
                # per-step output gradients, feature-major and contiguous: (H, T, B)
                g_t = xp.ascontiguousarray(g_out._data.transpose(2, 0, 1))
                arrays = self._raw_backward(xp, inputs, g_t, *[g._data for g in g_state])
            grads = [None if a is None else Tensor._wrap(a, dev) for a in arrays]
        return tuple(g if self.needs_grad(i) else None for i, g in enumerate(grads))

    def _start(self, xg, h0, n_gates: int, seq_len):
        """Shapes and the feature-major state buffer (H, T + 1, B) holding h0."""
        xp = xp_of(xg)
        G, B = xg.shape[0], h0.shape[0]
        T = self.T = seq_len if seq_len is not None else xg.shape[1] // B
        H = G // n_gates
        hb = xp.empty((H, T + 1, B), xg.dtype)
        hb[:, T if self.reverse else 0] = h0.T
        return xp, T, B, H, xg.reshape(G, T, B), hb

    def _finish(self, hb, T: int):
        """(out (T, B, H) as a view of hb, h_n (B, H))."""
        out, _ = _span(T, self.reverse)
        return hb[:, out].transpose(1, 2, 0), hb[:, 0 if self.reverse else T].T.copy()

    def _bias_grad(self, dg2):
        return dg2.sum(axis=1)


class LSTMSeq(_SeqOp):
    """LSTM layer over time: (xg (4H, T*B), h0, c0 (B, H), w_hh (4H, H)[, b (4H,)]) ->
    (out (T, B, H), h_n, c_n); b is b_ih + b_hh.

    >>> import engine
    >>> xg, h0, w = engine.randn(8, 3 * 1), engine.zeros(1, 2), engine.randn(8, 2)
    >>> [tuple(o.shape) for o in LSTMSeq.apply(xg, h0, h0, w, reverse=True)]
    [(3, 1, 2), (1, 2), (1, 2)]
    """

    _buffers = ("acts", "tc", "hb", "cb")

    def forward(self, xg, h0, c0, w_hh, b=None, reverse=False, seq_len=None):
        self.save_inputs(*range(4 if b is None else 5))
        self.save_output()
        self.reverse = reverse
        xp, T, B, H, x3, hb = self._start(xg, h0, 4, seq_len)
        cb = xp.empty((T + 1, H, B), xg.dtype)
        cb[T if reverse else 0] = c0.T
        acts = xp.empty((T, 4 * H, B), xg.dtype)
        tc = xp.empty((T, H, B), xg.dtype)
        tmp = xp.empty((H, B), xg.dtype)
        bias = None if b is None else b[:, None]
        for t, p, n in _steps(T, reverse):
            a = acts[t]
            xp.matmul(w_hh, hb[:, p], out=a)
            a += x3[:, t]
            if bias is not None:
                a += bias
            _sigmoid_(a[:2 * H], xp)
            xp.tanh(a[2 * H:3 * H], out=a[2 * H:3 * H])
            _sigmoid_(a[3 * H:], xp)
            c = cb[n]
            xp.multiply(a[H:2 * H], cb[p], out=c)
            xp.multiply(a[:H], a[2 * H:3 * H], out=tmp)
            c += tmp
            xp.tanh(c, out=tc[t])
            xp.multiply(a[3 * H:], tc[t], out=hb[:, n])
        self.acts, self.tc, self.hb, self.cb = acts, tc, hb, cb
        out, hn = self._finish(hb, T)
        return out, hn, cb[0 if reverse else T].T.copy()

    def _raw_backward(self, xp, inputs, g_t, g_hn, g_cn):
        w_hh = inputs[3]._data
        acts, tc = self.acts, self.tc
        T, G, B = acts.shape
        H = G // 4
        i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
        _, prev_s = _span(T, self.reverse)
        # derivative factors for all steps at once, in place (no temporaries)
        k_c = xp.multiply(tc, tc)                      # dc += dh * o (1 - tc^2)
        xp.subtract(1, k_c, out=k_c)
        k_c *= o
        k_o = xp.subtract(1, o)                        # dG_o = dh * tc o (1 - o)
        k_o *= o
        k_o *= tc
        k3 = xp.empty((T, 3, H, B), acts.dtype)         # dG_{i,f,g} = dc * k3
        for k, (a, s) in enumerate(((g, i), (self.cb[prev_s], f), (i, None))):
            d = k3[:, k]
            if s is None:                               # i (1 - g^2)
                xp.multiply(g, g, out=d)
                xp.subtract(1, d, out=d)
            else:                                       # a s (1 - s)
                xp.subtract(1, s, out=d)
                d *= s
            d *= a
        dG = xp.empty((G, T, B), acts.dtype)
        dG4 = dG.reshape(4, H, T, B)
        w_t = xp.ascontiguousarray(w_hh.T)
        dh, dc = g_hn.T.copy(), g_cn.T.copy()
        tmp = xp.empty((H, B), acts.dtype)
        for t, _, _ in reversed(_steps(T, self.reverse)):
            dh += g_t[:, t]
            xp.multiply(dh, k_c[t], out=tmp)
            dc += tmp
            xp.multiply(dc[None], k3[t], out=dG4[:3, :, t])
            xp.multiply(dh, k_o[t], out=dG4[3, :, t])
            dc *= f[t]
            xp.matmul(w_t, dG[:, t], out=dh)
        dg2 = dG.reshape(G, T * B)
        dw = dg2 @ self.hb[:, prev_s].reshape(H, T * B).T
        grads = [dg2, dh.T, dc.T, dw]
        if len(inputs) == 5:
            grads.append(self._bias_grad(dg2))
        return grads

    def _graph_backward(self, inputs, g_out, g_hn, g_cn):
        from .elementwise import sigmoid, tanh
        from .join import cat, stack

        xg, h, c, w = inputs[:4]
        b = inputs[4] if len(inputs) == 5 else None
        G, B, H, T = xg.shape[0], h.shape[0], h.shape[1], self.T
        x3, w_t = xg.reshape(G, T, B), w.t()
        steps, saved = _steps(T, self.reverse), [None] * T
        for t, _, _ in steps:
            a = x3[:, t].t() + h.matmul(w_t)
            if b is not None:
                a = a + b
            i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
            gg, o = tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
            saved[t] = (i, f, gg, o, c, h)
            c = f * c + i * gg
            tc = tanh(c)
            h = o * tc
            saved[t] += (tc,)
        dh, dc, dG = g_hn, g_cn, [None] * T
        for t, _, _ in reversed(steps):
            i, f, gg, o, c_prev, _, tc = saved[t]
            dh = dh + g_out[t]
            dc = dc + dh * o * (1 - tc * tc)
            dG[t] = cat([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f),
                         dc * i * (1 - gg * gg), dh * tc * o * (1 - o)], 1)
            dc = dc * f
            dh = dG[t].matmul(w)
        dG = stack(dG)  # (T, B, G)
        h_prev = stack([s[5] for s in saved])
        dw = dG.reshape(-1, G).t().matmul(h_prev.reshape(-1, H))
        grads = [dG.permute(2, 0, 1).reshape(G, T * B), dh, dc, dw]
        if b is not None:
            grads.append(dG.sum((0, 1)))
        return grads


class GRUSeq(_SeqOp):
    """GRU layer over time: (xg (3H, T*B), h0 (B, H), w_hh (3H, H)[, b_ih, b_hh (3H,)])
    -> (out (T, B, H), h_n).

    >>> import engine
    >>> out, h = GRUSeq.apply(engine.randn(6, 4 * 2), engine.zeros(2, 2), engine.randn(6, 2))
    >>> out.shape, h.shape
    (engine.Size([4, 2, 2]), engine.Size([2, 2]))
    """

    _buffers = ("acts", "ghn", "hb")

    def forward(self, xg, h0, w_hh, b_ih=None, b_hh=None, reverse=False, seq_len=None):
        self.save_inputs(*range(3 if b_ih is None else 5))
        self.save_output()
        self.reverse = reverse
        xp, T, B, H, x3, hb = self._start(xg, h0, 3, seq_len)
        acts = xp.empty((T, 3 * H, B), xg.dtype)
        ghn = xp.empty((T, H, B), xg.dtype)
        gh = xp.empty((3 * H, B), xg.dtype)
        gx = xp.empty((3 * H, B), xg.dtype)
        for t, p, n in _steps(T, reverse):
            a = acts[t]
            xp.matmul(w_hh, hb[:, p], out=gh)
            if b_ih is None:
                xp.copyto(gx, x3[:, t])
            else:
                gh += b_hh[:, None]
                xp.add(x3[:, t], b_ih[:, None], out=gx)
            rz = a[:2 * H]
            xp.add(gx[:2 * H], gh[:2 * H], out=rz)
            _sigmoid_(rz, xp)
            ghn[t] = gh[2 * H:]
            nn_ = a[2 * H:]
            xp.multiply(a[:H], gh[2 * H:], out=nn_)
            nn_ += gx[2 * H:]
            xp.tanh(nn_, out=nn_)
            h = hb[:, n]
            xp.subtract(hb[:, p], nn_, out=h)
            h *= a[H:2 * H]
            h += nn_
        self.acts, self.ghn, self.hb = acts, ghn, hb
        return self._finish(hb, T)

    def _raw_backward(self, xp, inputs, g_t, g_hn):
        w_hh = inputs[2]._data
        acts, ghn = self.acts, self.ghn
        T, G, B = acts.shape
        H = G // 3
        r, z, n = (acts[:, k * H:(k + 1) * H] for k in range(3))
        _, prev_s = _span(T, self.reverse)
        h_prev = self.hb[:, prev_s].transpose(1, 0, 2)   # (T, H, B)
        k_n = (1 - z) * (1 - n * n)              # dn_pre = dh * k_n
        k_z = (h_prev - n) * z * (1 - z)         # dz_pre = dh * k_z
        k_r = ghn * r * (1 - r)                  # dr_pre = dn_pre * k_r
        dGh = xp.empty((G, T, B), acts.dtype)
        dxn = xp.empty((H, T, B), acts.dtype)
        w_t = xp.ascontiguousarray(w_hh.T)
        dh = g_hn.T.copy()
        carry = xp.empty((H, B), acts.dtype)
        for t, _, _ in reversed(_steps(T, self.reverse)):
            dh += g_t[:, t]
            d, dn = dGh[:, t], dxn[:, t]
            xp.multiply(dh, k_n[t], out=dn)
            xp.multiply(dn, k_r[t], out=d[:H])
            xp.multiply(dh, k_z[t], out=d[H:2 * H])
            xp.multiply(dn, r[t], out=d[2 * H:])
            xp.multiply(dh, z[t], out=carry)
            xp.matmul(w_t, d, out=dh)
            dh += carry
        dgh2 = dGh.reshape(G, T * B)
        dgx = dGh.copy()
        dgx[2 * H:] = dxn
        dgx2 = dgx.reshape(G, T * B)
        dw = dgh2 @ self.hb[:, prev_s].reshape(H, T * B).T
        grads = [dgx2, dh.T, dw]
        if len(inputs) == 5:
            grads += [self._bias_grad(dgx2), self._bias_grad(dgh2)]
        return grads

    def _graph_backward(self, inputs, g_out, g_hn):
        from .elementwise import sigmoid, tanh
        from .join import cat, stack

        xg, h, w = inputs[:3]
        b_ih, b_hh = (inputs[3], inputs[4]) if len(inputs) == 5 else (None, None)
        G, B, H, T = xg.shape[0], h.shape[0], h.shape[1], self.T
        x3, w_t = xg.reshape(G, T, B), w.t()
        steps, saved = _steps(T, self.reverse), [None] * T
        for t, _, _ in steps:
            gh, x = h.matmul(w_t), x3[:, t].t()
            if b_ih is not None:
                gh, x = gh + b_hh, x + b_ih
            r = sigmoid(x[:, :H] + gh[:, :H])
            z = sigmoid(x[:, H:2 * H] + gh[:, H:2 * H])
            hn = gh[:, 2 * H:]
            n = tanh(x[:, 2 * H:] + r * hn)
            saved[t] = (r, z, n, hn, h)
            h = n + z * (h - n)
        dh, dGx, dGh = g_hn, [None] * T, [None] * T
        for t, _, _ in reversed(steps):
            r, z, n, hn, h_prev = saved[t]
            dh = dh + g_out[t]
            dn = dh * (1 - z) * (1 - n * n)
            dr = dn * hn * r * (1 - r)
            dz = dh * (h_prev - n) * z * (1 - z)
            dGx[t] = cat([dr, dz, dn], 1)
            dGh[t] = cat([dr, dz, dn * r], 1)
            dh = dh * z + dGh[t].matmul(w)
        dGx, dGh = stack(dGx), stack(dGh)  # (T, B, G)
        h_prev = stack([s[4] for s in saved])
        dw = dGh.reshape(-1, G).t().matmul(h_prev.reshape(-1, H))
        grads = [dGx.permute(2, 0, 1).reshape(G, T * B), dh, dw]
        if b_ih is not None:
            grads += [dGx.sum((0, 1)), dGh.sum((0, 1))]
        return grads


class RNNSeq(_SeqOp):
    """Elman RNN layer over time: (xg (H, T*B), h0 (B, H), w_hh (H, H)[, b (H,)]) ->
    (out (T, B, H), h_n), nonlinearity tanh or relu; b is b_ih + b_hh.

    >>> import engine
    >>> out, h = RNNSeq.apply(engine.ones(2, 3), engine.zeros(1, 2), engine.zeros(2, 2),
    ...                       relu=True)
    >>> out[:, 0].tolist(), h.tolist()
    ([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0]])
    """

    _buffers = ("hb",)

    def forward(self, xg, h0, w_hh, b=None, relu=False, reverse=False, seq_len=None):
        self.save_inputs(*range(3 if b is None else 4))
        self.save_output()
        self.reverse, self.relu = reverse, relu
        xp, T, B, H, x3, hb = self._start(xg, h0, 1, seq_len)
        for t, p, n in _steps(T, reverse):
            h = hb[:, n]
            xp.matmul(w_hh, hb[:, p], out=h)
            h += x3[:, t]
            if b is not None:
                h += b[:, None]
            if relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)
        self.hb = hb
        return self._finish(hb, T)

    def _raw_backward(self, xp, inputs, g_t, g_hn):
        w_hh = inputs[2]._data
        H, T, B = g_t.shape
        out_s, prev_s = _span(T, self.reverse)
        out = self.hb[:, out_s]
        k = (out > 0).astype(out.dtype) if self.relu else 1 - out * out
        d_pre = xp.empty((H, T, B), out.dtype)
        w_t = xp.ascontiguousarray(w_hh.T)
        dh = g_hn.T.copy()
        for t, _, _ in reversed(_steps(T, self.reverse)):
            dh += g_t[:, t]
            xp.multiply(dh, k[:, t], out=d_pre[:, t])
            xp.matmul(w_t, d_pre[:, t], out=dh)
        d2 = d_pre.reshape(H, T * B)
        dw = d2 @ self.hb[:, prev_s].reshape(H, T * B).T
        grads = [d2, dh.T, dw]
        if len(inputs) == 4:
            grads.append(self._bias_grad(d2))
        return grads

    def _graph_backward(self, inputs, g_out, g_hn):
        from .activation import relu
        from .elementwise import tanh
        from .join import stack

        xg, h, w = inputs[:3]
        b = inputs[3] if len(inputs) == 4 else None
        (B, H), T = h.shape, self.T
        x3, w_t = xg.reshape(H, T, B), w.t()
        steps, outs, prevs = _steps(T, self.reverse), [None] * T, [None] * T
        for t, _, _ in steps:
            prevs[t] = h
            pre = x3[:, t].t() + h.matmul(w_t)
            if b is not None:
                pre = pre + b
            h = outs[t] = relu(pre) if self.relu else tanh(pre)
        dh, d_pre = g_hn, [None] * T
        for t, _, _ in reversed(steps):
            dh = dh + g_out[t]
            y = outs[t]
            d_pre[t] = dh * (y > 0).to(y.dtype) if self.relu else dh * (1 - y * y)
            dh = d_pre[t].matmul(w)
        d_all = stack(d_pre)  # (T, B, H)
        dw = d_all.reshape(-1, H).t().matmul(stack(prevs).reshape(-1, H))
        grads = [d_all.permute(2, 0, 1).reshape(H, T * B), dh, dw]
        if b is not None:
            grads.append(d_all.sum((0, 1)))
        return grads
