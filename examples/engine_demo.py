"""A two-layer network fitted to y = sin(x) with nothing but engine tensors and autograd.

Run with `make run` (until the service lands) or `.venv/bin/python examples/engine_demo.py`.
"""

import math

import engine as torch

torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 256).reshape(-1, 1)
y = torch.sin(x)

w1 = (torch.randn(1, 32) * 0.5).requires_grad_()
b1 = torch.zeros(32, requires_grad=True)
w2 = (torch.randn(32, 1) * 0.2).requires_grad_()
b2 = torch.zeros(1, requires_grad=True)
params = [w1, b1, w2, b2]

for step in range(2001):
    pred = torch.tanh(x @ w1 + b1) @ w2 + b2
    loss = ((pred - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= 0.05 * p.grad
            p.grad = None
    if step % 400 == 0:
        print(f"step {step:4d}  loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f} (predicting zero would give {(y ** 2).mean().item():.3f})")
