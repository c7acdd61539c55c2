import copy
from collections import OrderedDict

import numpy as np
import pytest

import engine
from engine import nn

from .helpers import needs_torch, torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.head = nn.Sequential(OrderedDict(out=nn.Linear(8, 2)))
        self.scale = nn.Parameter(engine.ones(1))
        self.register_buffer("steps", engine.zeros(1))
        self.register_buffer("cache", engine.zeros(2), persistent=False)

    def forward(self, x):
        x = self.fc1(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x) * self.scale


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "blocks.0.weight", "blocks.0.bias",
                     "blocks.1.weight", "blocks.1.bias", "head.out.weight", "head.out.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in net.named_children()] == ["fc1", "blocks", "head"]
    assert [n for n, _ in net.named_modules()][:3] == ["", "fc1", "blocks"]
    assert len(list(net.modules())) == 7
    assert net.get_submodule("head.out") is net.head.out
    assert net.get_parameter("blocks.1.bias") is net.blocks[1].bias


def test_state_dict_keys_exclude_non_persistent_buffers():
    sd = Net().state_dict()
    assert list(sd)[:2] == ["scale", "steps"]
    assert "cache" not in sd and "fc1.weight" in sd and "head.out.bias" in sd
    assert not sd["scale"].requires_grad


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_assignment_errors_follow_pytorch():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(engine.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    net = Net()
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'scale'"):
        net.scale = 3
    with pytest.raises(TypeError, match="cannot assign 'str' as child module 'fc1'"):
        net.fc1 = "x"
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        net.register_buffer("forward", engine.zeros(1))
    net.scale = None
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = net.nope


def test_load_state_dict_reports_every_problem_at_once():
    net = Net()
    sd = net.state_dict()
    sd.pop("fc1.bias")
    sd["extra"] = engine.zeros(1)
    sd["fc1.weight"] = engine.zeros(3, 3)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "fc1.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra"' in msg
    assert "size mismatch for fc1.weight" in msg
    del sd["fc1.weight"]
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.weight", "fc1.bias"]
    assert result.unexpected_keys == ["extra"]


def test_load_state_dict_copies_values_into_the_same_parameters():
    a, b = Net(), Net()
    w = b.fc1.weight
    b.load_state_dict(a.state_dict())
    assert b.fc1.weight is w
    assert engine.equal(b.fc1.weight, a.fc1.weight)


def test_train_eval_zero_grad_requires_grad_apply():
    net = Net()
    net.eval()
    assert not net.training and not net.blocks[0].training
    net.train()
    assert net.head.out.training
    net(engine.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4


def test_to_and_dtype_casts_keep_parameter_objects():
    net = Net()
    w = net.fc1.weight
    net.double()
    assert net.fc1.weight is w and w.dtype == engine.float64
    assert net.steps.dtype == engine.float64
    net.float()
    assert w.dtype == engine.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(engine.int64)


def test_forward_hooks_and_removal():
    net = nn.Linear(2, 2)
    calls = []
    h1 = net.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = net.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = net(engine.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), net.bias.detach().numpy()[None] + 1,
                               rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    assert not engine.equal(net(engine.ones(1, 2)), out)


def test_missing_forward_raises():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(engine.ones(1))


def test_deepcopy_gives_independent_parameters():
    net = Net()
    clone = copy.deepcopy(net)
    assert isinstance(clone.fc1.weight, nn.Parameter)
    with engine.no_grad():
        clone.fc1.weight.add_(1)
    assert not engine.equal(clone.fc1.weight, net.fc1.weight)


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    seq.append(nn.Identity())
    assert [type(m).__name__ for m in seq] == ["Linear", "Identity", "Linear", "Identity"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    ml = nn.ModuleList()
    ml.append(nn.Linear(1, 1))
    ml += [nn.Linear(1, 1)]
    assert len(ml) == 2 and len(list(ml.parameters())) == 4
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Identity()
    assert list(md.keys()) == ["a", "b"] and "a" in md
    pl = nn.ParameterList([engine.ones(2), nn.Parameter(engine.zeros(1))])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in nn.Sequential(pl).named_parameters()] == ["0.0", "0.1"]
    pd = nn.ParameterDict({"x": engine.ones(1)})
    assert isinstance(pd["x"], nn.Parameter)


@needs_torch
def test_repr_matches_pytorch():
    def build(lib):
        m = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Sequential(lib.nn.Linear(8, 2)),
                              lib.nn.Identity(), lib.nn.Flatten())
        m.add_module("extra", lib.nn.ModuleList([lib.nn.Linear(2, 2, bias=False)]))
        return m

    assert repr(build(engine)) == repr(build(torch))


@needs_torch
def test_state_dict_moves_to_pytorch_and_back():
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Linear(8, 3))

    e, t = build(engine), build(torch)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in e.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(e(engine.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    e2 = build(engine)
    e2.load_state_dict({k: engine.tensor(v.numpy()) for k, v in t.state_dict().items()})
    assert engine.equal(e2[0].weight, e[0].weight)


@needs_torch
def test_default_linear_init_matches_pytorch_bounds():
    lin = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(lin.bias.detach().numpy()).max() <= bound
    assert tuple(lin.weight.shape) == tuple(torch.nn.Linear(100, 50).weight.shape)


@needs_torch
def test_module_list_repr_collapses_repeats_like_pytorch():
    def build(lib):
        return lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)] + [lib.nn.Identity()])

    assert repr(build(engine)) == repr(build(torch))
