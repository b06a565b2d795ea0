"""The toy DDPM: a small MLP learns the noise of :class:`~crystal_lab.toy.process.ToyNoise`
on a 2D point cloud, and the reverse steps run it back from pure noise (Ho et al. 2020,
arXiv:2006.11239; DDIM: Song et al. 2021, arXiv:2010.02502).
"""
from __future__ import annotations

import itertools
import math
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ..arguments import check_number
from .process import ToyNoise

__all__ = ["ToyDDPM", "ToyNet"]


@contextmanager
def _one_thread():
    """Run torch on one thread: the MLP's matrices are tiny, so more threads only add
    synchronisation, and on a busy machine OpenMP threads can slow training 30-fold."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)




class ToyNet(nn.Module):
    """eps_theta(x, t): an MLP on Fourier features of the point and of t (in [0, 1]).

    Sines and cosines of x at frequencies 1, 2, 4, ... 32 let a small MLP draw sharp shapes
    (such as letters) that it cannot fit from raw coordinates (Tancik et al. 2020,
    arXiv:2006.10739); t enters as a sinusoidal embedding (Vaswani et al. 2017).
    """

    def __init__(self, hidden: int = 128, n_freq_t: int = 16, n_freq_x: int = 6):
        super().__init__()
        self.register_buffer("freq_t", 2.0 ** torch.arange(n_freq_t // 2) * math.pi)
        self.register_buffer("freq_x", 2.0 ** torch.arange(n_freq_x))
        self.net = nn.Sequential(nn.Linear(2 + 4 * n_freq_x + n_freq_t, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = t[:, None] * self.freq_t[None]
        b = (x[:, :, None] * self.freq_x).flatten(1)
        return self.net(torch.cat([x, torch.sin(b), torch.cos(b), torch.sin(a), torch.cos(a)], 1))


class ToyDDPM:
    """A DDPM on 2D points: ``n_steps`` noise levels ``t = k / n_steps`` of the cosine schedule
    (:class:`ToyNoise`), an MLP (:class:`ToyNet`) predicting ``eps``.

    ``noise``: the process (``add_noise`` / ``step``, the protocol of the crystal processes);
    ``net``: the network; ``T``: the number of levels; ``alpha_bar``: ``abar`` at t = 0 .. T.

    >>> ddpm = ToyDDPM(); losses = ddpm.fit(spiral())      # doctest: +SKIP
    >>> traj = ddpm.sample(1000, return_trajectory=True)  # (n_steps + 1, 1000, 2), noise first
    """

    def __init__(self, n_steps: int = 100, hidden: int = 128, seed: int = 0):
        self.T = check_number("n_steps", n_steps, integer=True, minimum=2)
        self.noise = ToyNoise()
        self.alpha_bar = self.noise.alpha_bar(
            torch.arange(self.T + 1, dtype=torch.float64) / self.T
        )
        torch.manual_seed(seed)
        self.net = ToyNet(hidden)
        self.losses: list[float] = []

    def forward(self, x0: np.ndarray, seed: int = 0) -> np.ndarray:
        """``(T + 1, n, 2)``: ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` for t = 0..T,
        one ``eps`` for all t (a smooth path from the data into noise)."""
        x0 = np.asarray(x0, float)
        eps = np.random.default_rng(seed).standard_normal(x0.shape)
        ab = self.alpha_bar.double().numpy()[:, None, None]
        return np.sqrt(ab) * x0[None] + np.sqrt(1 - ab) * eps[None]

    def fit(self, data: np.ndarray, n_iters: int = 8000, batch_size: int = 256, lr: float = 2e-3,
            seed: int = 0, progress: bool = True) -> list[float]:
        """Train the noise predictor (``noise.loss``: ``|eps - eps_theta(x_t, t)|^2`` at the
        levels the sampler visits); returns the per-iteration loss history (also in
        ``self.losses``)."""
        from ..progress import tqdm  # a finished bar is hidden, not closed (reload-safe)

        x = torch.as_tensor(np.asarray(data), dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"data must have shape (n, 2), got {tuple(x.shape)}")
        self.noise.clip = 1.1 * float(x.abs().max())   # samplers clip x0_hat to the data
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_iters, eta_min=lr / 20)
        self.net.train()
        bar = tqdm(range(n_iters), desc="training toy DDPM", disable=not progress, leave=False)
        with _one_thread():
            for it in bar:
                x0 = x[torch.randint(len(x), (batch_size,), generator=g)]
                t = torch.randint(1, self.T + 1, (batch_size,), generator=g) / self.T
                x_t, eps = self.noise.add_noise(x0, t, generator=g)
                loss = self.noise.loss(self.net(x_t, t), eps)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                self.losses.append(float(loss.detach()))
                if it % 100 == 0:
                    bar.set_postfix(loss=f"{np.mean(self.losses[-100:]):.3f}")
        self.net.eval()
        return self.losses

    def timesteps(self, steps: int) -> list[int]:
        """The noise levels (``k`` of ``t = k / T``) a ``steps``-step sampler visits, T to 0."""
        return [int(t) for t in np.linspace(self.T, 0, steps + 1).round()]

    @torch.no_grad()
    def predict(self, x: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``(eps_hat, score)`` of the trained network at points ``x`` (n, 2) and time ``t``."""
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        tt = torch.full((len(xt),), float(t))
        with _one_thread():
            eps = self.net(xt, tt)
        return eps.double().numpy(), self.noise.score(xt, eps, tt).double().numpy()

    @torch.no_grad()
    def sample(self, n: int = 1000, seed: int = 0, return_trajectory: bool = False,
               steps: int | None = None, method: str = "ancestral") -> np.ndarray:
        """Sample from ``x_1 ~ N(0, I)`` with the trained noise predictor and ``noise.step``.

        ``method="ancestral"``: DDPM ancestral steps (``eta=1``, fresh noise every step).
        ``method="ddim"``: the deterministic DDIM update (``eta=0``). ``steps`` (default
        ``n_steps``, the training levels): visit only ``steps`` levels, evenly spaced from
        t = 1 to 0; the same network is used, only the jumps get larger. The predicted clean
        point is clipped to the training data's range (``noise.clip``).

        Returns ``(n, 2)`` samples, or with ``return_trajectory`` all ``(steps + 1, n, 2)``
        states from t = 1 (noise) down to t = 0.
        """
        if method not in ("ancestral", "ddim"):
            raise ValueError(f"method must be 'ancestral' or 'ddim', got {method!r}")
        steps = self.T if steps is None else steps
        check_number("steps", steps, integer=True, minimum=1, maximum=self.T)
        eta = 1.0 if method == "ancestral" else 0.0
        g = torch.Generator().manual_seed(seed)
        with _one_thread():
            x = self.noise.prior((n, 2), generator=g)
            traj = [x.numpy().copy()]
            for k, j in itertools.pairwise(self.timesteps(int(steps))):
                t, s = torch.full((n,), k / self.T), torch.full((n,), j / self.T)
                x = self.noise.step(x, self.net(x, t), t, s, generator=g, eta=eta)
                traj.append(x.numpy().copy())
        return np.stack(traj) if return_trajectory else traj[-1]
