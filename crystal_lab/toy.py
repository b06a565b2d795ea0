"""A 2D toy diffusion that runs on any laptop in seconds (numpy + a tiny torch MLP).

1. Physical diffusion: particles taking random steps (``random_walk``). Their concentration
   evens out, and the displacement from the start becomes Gaussian with variance
   ``step**2 * n`` per axis after ``n`` steps (central limit theorem; Einstein 1905).
2. A denoising diffusion model (DDPM; Ho et al. 2020, arXiv:2006.11239) on a 2D point cloud
   (``spiral`` or ``word``): the forward process ``q(x_t | x_0) = N(sqrt(abar_t) x_0,
   (1 - abar_t) I)`` turns the data into a standard normal; a small MLP learns the noise
   ``eps`` that was added; ancestral sampling runs the chain backwards from pure noise.
   The cosine schedule is from Nichol & Dhariwal 2021 (arXiv:2102.09672).
3. ``energy_distance`` (Székely & Rizzo 2013) measures how close two point clouds are, to show
   that samples end up much closer to the data than the noise they started from.

Figures are plotly animations with a time slider.
"""
from __future__ import annotations

import itertools
import math
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .view.plotly import add_player

__all__ = ["random_walk", "random_walk_figure", "spiral", "word", "ToyDDPM", "energy_distance",
           "cloud_animation", "loss_figure"]


# --------------------------------------------------------------------------- physical diffusion

def random_walk(n_particles: int = 2000, n_steps: int = 200, step: float = 0.05,
                box: float | None = None, seed: int = 0) -> np.ndarray:
    """Positions ``(n_steps + 1, n_particles, 2)`` of particles starting together at the origin.

    Each step adds independent Gaussian noise of standard deviation ``step`` per axis. With
    ``box`` the particles stay inside ``[-box, box]^2`` (reflecting walls), so their
    concentration evens out to uniform instead of spreading forever.
    """
    if n_particles < 1 or n_steps < 0 or step <= 0:
        raise ValueError("need n_particles >= 1, n_steps >= 0 and step > 0")
    rng = np.random.default_rng(seed)
    x = np.zeros((n_steps + 1, n_particles, 2))
    for k in range(n_steps):
        y = x[k] + step * rng.standard_normal((n_particles, 2))
        if box is not None:  # reflect at the walls: fold y into [-box, box]
            y = np.abs((y + box) % (4 * box) - 2 * box) - box
        x[k + 1] = y
    return x


def random_walk_figure(positions: np.ndarray, step: float | None = None, n_frames: int = 21,
                       bins: int = 40, height: int = 420):
    """Animation: particles (left) and the histogram of their x coordinate (right).

    With ``step`` (the walk's step size), the Gaussian the walk tends to,
    ``N(0, step**2 * n)``, is drawn over the histogram.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    T = positions.shape[0] - 1
    ks = np.unique(np.linspace(0, T, n_frames).round().astype(int))
    lim = float(np.abs(positions).max()) * 1.05 + 1e-9
    edges = np.linspace(-lim, lim, bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    xs = np.linspace(-lim, lim, 300)

    def data(k):
        p = positions[k]
        h, _ = np.histogram(p[:, 0], edges, density=True)
        out = [go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name="particles",
                          marker=dict(size=3, color="#1f77b4", opacity=0.5)),
               go.Bar(x=centers, y=h, width=width, name="histogram of x",
                      marker_color="#9ecae1", xaxis="x2", yaxis="y2")]
        if step is not None:
            var = max(step ** 2 * k, 1e-12)
            g = np.exp(-xs ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
            out.append(go.Scatter(x=xs, y=np.minimum(g, 1e3), mode="lines", name="N(0, step²·n)",
                                  line=dict(color="#d62728"), xaxis="x2", yaxis="y2"))
        return out

    fig = make_subplots(rows=1, cols=2, subplot_titles=("particles", "concentration along x"))
    for tr in data(ks[-1]):  # a static export shows the end state; play runs from step 0
        fig.add_trace(tr, row=1, col=1 if tr.name == "particles" else 2)
    ymax = max(np.histogram(positions[k][:, 0], edges, density=True)[0].max() for k in ks[1:]) \
        if len(ks) > 1 else 1.0
    fig.frames = [go.Frame(data=data(k), name=str(k)) for k in ks]
    add_player(fig, [str(k) for k in ks], [str(k) for k in ks], "step ", active=len(ks) - 1)
    fig.update_xaxes(range=[-lim, lim])
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", row=1, col=1)
    fig.update_yaxes(range=[0, 1.15 * ymax], row=1, col=2)
    fig.update_layout(height=height, plot_bgcolor="white", margin=dict(l=30, r=10, t=40, b=10),
                      legend=dict(x=0.75, y=1.0))
    return fig


# --------------------------------------------------------------------------- data sets

def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return x / x.std()


def spiral(n: int = 2000, turns: float = 2.0, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` points on an Archimedean spiral with a little Gaussian jitter, standardised."""
    rng = np.random.default_rng(seed)
    s = np.sqrt(rng.uniform(0.02, 1.0, n))  # uniform density along the arc
    theta = 2 * math.pi * turns * s
    x = np.stack([s * np.cos(theta), s * np.sin(theta)], 1)
    return _standardise(x + noise * rng.standard_normal(x.shape))


def word(text: str = "Hi", n: int = 3000, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` points filling the letters of ``text`` (matplotlib's DejaVu Sans), standardised.

    Two or three letters come out crisp after the default 8000 training steps (about 10 s on
    one core); a long word such as "DIFFUSION" has thin strokes after standardising and its
    samples stay blurred (though still far closer to the data than the noise).
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text.strip():
        raise ValueError("word() needs some visible text")
    path = TextPath((0, 0), text, size=1.0, prop=FontProperties(family="DejaVu Sans",
                                                                 weight="bold"))
    polys = path.to_polygons()
    lo = np.min([p.min(0) for p in polys], 0)
    hi = np.max([p.max(0) for p in polys], 0)
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(o) for o in out) < n:
        cand = rng.uniform(lo, hi, (4 * n, 2))
        # even-odd rule over all glyph outlines handles the holes of letters such as O and D
        inside = np.zeros(len(cand), bool)
        for p in polys:
            from matplotlib.path import Path

            inside ^= Path(p).contains_points(cand)
        out.append(cand[inside])
    return _standardise(np.concatenate(out)[:n])


# --------------------------------------------------------------------------- DDPM

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


def _cosine_alpha_bar(T: int, s: float = 0.008) -> np.ndarray:
    t = np.arange(T + 1) / T
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


class _MLP(nn.Module):
    """eps_theta(x, t): an MLP on Fourier features of the point and of t / T.

    Sines and cosines of x at frequencies 1, 2, 4, ... 32 let a small MLP draw sharp shapes
    (such as letters) that it cannot fit from raw coordinates (Tancik et al. 2020,
    arXiv:2006.10739); t enters as a sinusoidal embedding (Vaswani et al. 2017).
    """

    def __init__(self, T: int, hidden: int = 128, n_freq_t: int = 16, n_freq_x: int = 6):
        super().__init__()
        self.T = T
        self.register_buffer("freq_t", 2.0 ** torch.arange(n_freq_t // 2) * math.pi)
        self.register_buffer("freq_x", 2.0 ** torch.arange(n_freq_x))
        self.net = nn.Sequential(nn.Linear(2 + 4 * n_freq_x + n_freq_t, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = (t / self.T)[:, None] * self.freq_t[None]
        b = (x[:, :, None] * self.freq_x).flatten(1)
        return self.net(torch.cat([x, torch.sin(b), torch.cos(b), torch.sin(a), torch.cos(a)], 1))


class ToyDDPM:
    """A DDPM on 2D points: ``n_steps`` noise levels (cosine schedule), an MLP predicting eps.

    >>> ddpm = ToyDDPM(); losses = ddpm.fit(spiral())      # doctest: +SKIP
    >>> traj = ddpm.sample(1000, return_trajectory=True)  # (n_steps + 1, 1000, 2), noise first
    """

    def __init__(self, n_steps: int = 100, hidden: int = 128, seed: int = 0):
        if n_steps < 2:
            raise ValueError(f"n_steps must be at least 2, got {n_steps}")
        self.T = n_steps
        abar = _cosine_alpha_bar(n_steps)
        self.alpha_bar = torch.tensor(abar, dtype=torch.float32)  # index t = 0..T
        self.beta = torch.tensor(np.clip(1 - abar[1:] / abar[:-1], 1e-5, 0.999),
                                 dtype=torch.float32)              # index t - 1
        torch.manual_seed(seed)
        self.net = _MLP(n_steps, hidden)
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
        """Train the noise predictor (the simple loss ``|eps - eps_theta(x_t, t)|^2``); returns
        the per-iteration loss history (also kept in ``self.losses``)."""
        from tqdm.auto import tqdm

        x = torch.as_tensor(np.asarray(data), dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"data must have shape (n, 2), got {tuple(x.shape)}")
        self.data_range = 1.1 * float(x.abs().max())   # where few-step samplers clip x0_hat
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_iters, eta_min=lr / 20)
        self.net.train()
        bar = tqdm(range(n_iters), desc="training toy DDPM", disable=not progress, leave=False)
        with _one_thread():
            self._train_loop(bar, x, g, opt, sched, batch_size)
        self.net.eval()
        return self.losses

    def _train_loop(self, bar, x, g, opt, sched, batch_size: int) -> None:
        for it in bar:
            x0 = x[torch.randint(len(x), (batch_size,), generator=g)]
            t = torch.randint(1, self.T + 1, (batch_size,), generator=g)
            eps = torch.randn(x0.shape, generator=g)
            ab = self.alpha_bar[t][:, None]
            loss = ((self.net(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t.float()) - eps) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            self.losses.append(loss.item())
            if it % 100 == 0:
                bar.set_postfix(loss=f"{np.mean(self.losses[-100:]):.3f}")

    @torch.no_grad()
    def sample(self, n: int = 1000, seed: int = 0, return_trajectory: bool = False,
               steps: int | None = None, method: str = "ancestral") -> np.ndarray:
        """Sample from ``x_T ~ N(0, I)`` with the trained noise predictor.

        ``method="ancestral"``: DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), fresh
        noise every step. ``method="ddim"``: the deterministic DDIM update (Song et al. 2021,
        arXiv:2010.02502, eta = 0), ``x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat``.
        ``steps`` (default ``n_steps``, the training schedule): visit only ``steps`` noise levels,
        evenly spaced from T to 0; the same network is used, only the jumps get larger. With
        fewer steps than T, ancestral sampling uses the DDPM posterior between the visited
        levels (DDIM with eta = 1), and the predicted clean point ``x0_hat`` is clipped to the
        training data's range (as image models clip to [-1, 1]).

        Returns ``(n, 2)`` samples, or with ``return_trajectory`` all ``(steps + 1, n, 2)``
        states from t = T (noise) down to t = 0.
        """
        if method not in ("ancestral", "ddim"):
            raise ValueError(f"method must be 'ancestral' or 'ddim', got {method!r}")
        steps = self.T if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
                or not 1 <= steps <= self.T:
            raise ValueError(f"steps must be a whole number from 1 to {self.T}, got {steps!r}")
        with _one_thread():
            if method == "ancestral" and steps == self.T:
                return self._sample(n, seed, return_trajectory)
            return self._sample_strided(n, seed, return_trajectory, int(steps), method)

    def timesteps(self, steps: int) -> list[int]:
        """The noise levels a ``steps``-step sampler visits, from T down to 0."""
        return [int(t) for t in np.linspace(self.T, 0, steps + 1).round()]

    def _sample(self, n: int, seed: int, return_trajectory: bool) -> np.ndarray:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 2, generator=g)
        traj = [x.numpy().copy()]
        for t in range(self.T, 0, -1):
            beta, ab = self.beta[t - 1], self.alpha_bar[t]
            eps = self.net(x, torch.full((n,), float(t)))
            mean = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
            if t > 1:
                var = beta * (1 - self.alpha_bar[t - 1]) / (1 - ab)  # posterior variance
                x = mean + var.sqrt() * torch.randn(n, 2, generator=g)
            else:
                x = mean
            traj.append(x.numpy().copy())
        return np.stack(traj) if return_trajectory else traj[-1]

    def _sample_strided(self, n: int, seed: int, return_trajectory: bool, steps: int,
                        method: str) -> np.ndarray:
        g = torch.Generator().manual_seed(seed)
        # abar from the clipped betas: abar_T is tiny but not 0, so x0_hat stays finite
        abar = torch.cat([torch.ones(1), torch.cumprod(1 - self.beta, 0)])
        clip = getattr(self, "data_range", 4.0)
        x = torch.randn(n, 2, generator=g)
        traj = [x.numpy().copy()]
        ts = self.timesteps(steps)
        for t, s in itertools.pairwise(ts):
            ab_t, ab_s = abar[t], abar[s]
            eps = self.net(x, torch.full((n,), float(t)))
            x0 = ((x - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()).clamp(-clip, clip)
            eps = (x - ab_t.sqrt() * x0) / (1 - ab_t).sqrt()     # consistent with the clip
            if method == "ddim" or s == 0:
                sigma = torch.zeros(())
            else:  # the DDPM posterior q(x_s | x_t, x0_hat): DDIM with eta = 1
                sigma = ((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)).sqrt()
            x = ab_s.sqrt() * x0 + (1 - ab_s - sigma ** 2).clamp_min(0).sqrt() * eps
            if sigma > 0:
                x = x + sigma * torch.randn(n, 2, generator=g)
            traj.append(x.numpy().copy())
        return np.stack(traj) if return_trajectory else traj[-1]


def energy_distance(a: np.ndarray, b: np.ndarray, max_points: int = 1500, seed: int = 0) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` between two point clouds
    (Székely & Rizzo 2013); zero iff the distributions agree. Subsamples to ``max_points``."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) > max_points:
        a = a[rng.choice(len(a), max_points, replace=False)]
    if len(b) > max_points:
        b = b[rng.choice(len(b), max_points, replace=False)]

    def mean_dist(p, q):
        return float(np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).mean())

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


# --------------------------------------------------------------------------- figures

def cloud_animation(trajectory: np.ndarray, data: np.ndarray | None = None, n_frames: int = 26,
                    title: str = "", times: np.ndarray | None = None, height: int = 440,
                    max_points: int = 1500, show: str = "first"):
    """Animate point clouds ``(K, n, 2)`` (forward or reverse) with the data as a grey ghost.

    ``times`` labels each of the K states (default: the state index). ``show``: the state a
    static export shows, ``"first"`` or ``"last"`` (play always starts from the first).
    """
    if show not in ("first", "last"):
        raise ValueError(f"show must be 'first' or 'last', got {show!r}")
    import plotly.graph_objects as go

    K = trajectory.shape[0]
    times = np.arange(K) if times is None else np.asarray(times)
    ks = np.unique(np.linspace(0, K - 1, n_frames).round().astype(int))
    pts = trajectory[:, :max_points]
    lim = float(np.percentile(np.abs(pts), 99.5)) * 1.1 + 1e-9
    base = []
    if data is not None:
        d = np.asarray(data)[:max_points]
        base.append(go.Scatter(x=d[:, 0], y=d[:, 1], mode="markers", name="data",
                               marker=dict(size=3, color="#c7c7c7")))

    def cloud(k):
        return go.Scatter(x=pts[k, :, 0], y=pts[k, :, 1], mode="markers", name="points",
                          marker=dict(size=3, color="#1f77b4", opacity=0.7))

    active = 0 if show == "first" else len(ks) - 1
    fig = go.Figure(base + [cloud(ks[active])])
    fig.frames = [go.Frame(data=[cloud(k)], traces=[len(base)], name=str(k)) for k in ks]
    add_player(fig, [str(k) for k in ks], [str(times[k]) for k in ks], "t = ", active=active)
    fig.update_xaxes(range=[-lim, lim], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-lim, lim], scaleanchor="x", showgrid=False, zeroline=False)
    fig.update_layout(title=title, height=height, width=height + 150, plot_bgcolor="white",
                      margin=dict(l=20, r=10, t=40, b=10), legend=dict(x=1.02, y=1.0))
    return fig


def loss_figure(losses, smooth: int = 50, height: int = 300):
    """Training loss per iteration with a running mean over ``smooth`` iterations."""
    import plotly.graph_objects as go

    losses = np.asarray(losses, float)
    k = max(1, min(smooth, len(losses)))
    run = np.convolve(losses, np.ones(k) / k, mode="valid")
    fig = go.Figure([go.Scatter(y=losses, mode="lines", name="loss",
                                line=dict(color="#c6dbef", width=1)),
                     go.Scatter(x=np.arange(k - 1, len(losses)), y=run, mode="lines",
                                name=f"mean of {k}", line=dict(color="#08519c"))])
    fig.update_layout(height=height, xaxis_title="iteration", yaxis_title="MSE on ε",
                      plot_bgcolor="white", margin=dict(l=50, r=10, t=20, b=40))
    return fig
