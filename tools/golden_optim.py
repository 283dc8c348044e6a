#!/usr/bin/python3
"""Golden optimizer trajectories: PyTorch's SGD (momentum, Nesterov, weight decay) and
AdamW applied for 5 steps to one parameter with a fixed sequence of gradients.
Run with Debian's PyTorch: /usr/bin/python3 tools/golden_optim.py
Writes tests/golden/optim.safetensors."""

from golden_common import save_safetensors
import torch

torch.manual_seed(1)
N, STEPS = 37, 5
w0 = torch.randn(N)
grads = torch.randn(STEPS, N)
out = {"w0": w0.numpy(), "grads": grads.numpy()}
cases = {
    "sgd": dict(cls=torch.optim.SGD, lr=0.1, momentum=0.0, weight_decay=0.0),
    "sgd_mom_wd": dict(cls=torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=5e-4),
    "sgd_nesterov_wd": dict(cls=torch.optim.SGD, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adamw": dict(cls=torch.optim.AdamW, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
}
for name, kw in cases.items():
    cls = kw.pop("cls")
    p = torch.nn.Parameter(w0.clone())
    opt = cls([p], **kw)
    for s in range(STEPS):
        p.grad = grads[s].clone()
        opt.step()
    out[name] = p.detach().numpy().copy()

save_safetensors("tests/golden/optim.safetensors", out)
print("wrote tests/golden/optim.safetensors")
