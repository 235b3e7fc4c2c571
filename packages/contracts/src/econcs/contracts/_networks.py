"""The Q-networks of the contracts' trainers, initialised like PyTorch's defaults from an explicit
generator (so that a seed fixes them on every device).

- :class:`_StateQNet`: an MLP on one-hot states (the deep tree-MDP trainer, Ivanov et al. 2024,
  Sec. 4: 2 x 256 ReLU);
- :class:`_ConvQNet`: the paper's Coin Game network, ``Conv(4 -> 32, kernel min(4, size)) + 2 x
  FC(64)`` (Sec. 5);
- :class:`_ConvQEnsemble`: ``n_heads`` of its heads on one convolutional trunk (bootstrapped DQN,
  Osband et al. 2016).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class _StateQNet(nn.Module):
    """ReLU MLP on one-hot states; the first layer is stored as an embedding table (same function
    as a ``Linear`` layer on the one-hot vector, without the ``(batch, n_states)`` matmul), with
    sparse gradients updated by lazy Adam (``torch.optim.SparseAdam``).

    Parameters drawn like PyTorch's default ``Linear`` init from ``generator`` (CPU).
    """

    def __init__(self, n_states, hidden, n_out, n_layers, generator):
        super().__init__()

        def uniform(shape, fan_in):
            return nn.Parameter((torch.rand(*shape, generator=generator) * 2 - 1) / fan_in**0.5)

        self.embed = nn.Embedding(n_states, hidden, sparse=True)
        self.embed.weight = uniform((n_states, hidden), n_states)
        self.embed_bias = uniform((hidden,), n_states)
        layers: list[nn.Module] = []
        dims = [hidden] * n_layers + [n_out]
        for d_in, d_out in itertools.pairwise(dims):
            lin = nn.Linear(d_in, d_out)
            lin.weight, lin.bias = uniform((d_out, d_in), d_in), uniform((d_out,), d_in)
            layers += [nn.ReLU(), lin]
        self.body = nn.Sequential(*layers)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """``s``: (batch,) state indices -> (batch, n_out)."""
        return self.body(self.embed(s) + self.embed_bias)


class _ConvQNet(nn.Module):
    def __init__(self, size: int, n_out: int, generator: torch.Generator):
        super().__init__()
        k = min(4, size)
        self.conv = nn.Conv2d(4, 32, kernel_size=k)
        flat = 32 * (size - k + 1) ** 2
        self.fc1, self.fc2, self.out = nn.Linear(flat, 64), nn.Linear(64, 64), nn.Linear(64, n_out)
        with torch.no_grad():  # PyTorch's default init, drawn from an explicit generator
            for p in self.parameters():
                fan_in = p.shape[1] * (p[0, 0].numel() if p.dim() == 4 else 1) if p.dim() > 1 \
                    else None
                if fan_in is None:
                    continue
                bound = 1.0 / fan_in**0.5
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
            for layer in (self.conv, self.fc1, self.fc2, self.out):
                fan_in = layer.weight[0].numel()
                layer.bias.copy_((torch.rand(layer.bias.shape, generator=generator) * 2 - 1)
                                 / fan_in**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, 4, size, size) -> (batch, n_out) action values."""
        h = torch.relu(self.conv(x)).flatten(1)
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(h)))))


class _ConvQEnsemble(nn.Module):
    """``n_heads`` value heads on one convolutional trunk (bootstrapped DQN, Osband et al. 2016):
    a shared ``Conv(4 -> 32)``, then per head the paper's ``2 x FC(64)`` and the output layer,
    evaluated in one pass with batched matrix products: (batch, 4, size, size) ->
    (batch, n_heads, n_out)."""

    def __init__(self, size: int, n_out: int, n_heads: int, generator: torch.Generator):
        super().__init__()
        k = min(4, size)
        flat = 32 * (size - k + 1) ** 2
        self.n_heads = n_heads

        def uniform(shape, fan_in):  # PyTorch's default bound 1 / sqrt(fan_in)
            return nn.Parameter((torch.rand(shape, generator=generator) * 2 - 1) / fan_in**0.5)

        self.conv_w, self.conv_b = uniform((32, 4, k, k), 4 * k * k), uniform((32,), 4 * k * k)
        self.w1, self.b1 = uniform((flat, n_heads * 64), flat), uniform((n_heads * 64,), flat)
        self.w2, self.b2 = uniform((n_heads, 64, 64), 64), uniform((n_heads, 1, 64), 64)
        self.w3, self.b3 = uniform((n_heads, 64, n_out), 64), uniform((n_heads, 1, n_out), 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h = x.shape[0], self.n_heads
        z = torch.relu(nn.functional.conv2d(x, self.conv_w, self.conv_b)).flatten(1)
        z = torch.relu(torch.addmm(self.b1, z, self.w1)).view(b, h, 64).transpose(0, 1)
        z = torch.relu(torch.baddbmm(self.b2, z, self.w2))  # (heads, batch, 64)
        return torch.baddbmm(self.b3, z, self.w3).transpose(0, 1)
