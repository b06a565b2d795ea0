"""Exercises of notebook 01 (what is diffusion), and its end-of-notebook quiz (``nb01.q1`` ..).

Solutions are stored with :func:`crystal_lab.exercises.hide` (zlib + base64) so they are not in
plain sight: a workshop convenience, not security. Checks use
:mod:`crystal_lab.exercises.checks`, which refuse bools as numbers, do not truncate, and ignore
the order of list answers where order means nothing.
"""
from __future__ import annotations

from crystal_lab.exercises import Exercise
from crystal_lab.exercises.checks import close, question

EXERCISES: dict[str, Exercise] = {
    "nb01.spread": Exercise(
        check=close(1.0, 0.05),
        hint=(
            'After n independent steps of standard deviation `step` the variances add: the '
            'variance per axis is `step**2 * n`. Take the square root.'
        ),
        solution=(
            "zb64:eNodyzEKgDAMBdCrfHCxIiGCLoKHCaZDl1iboNe3+PYn5m9uOMDEGyZYJb9bjCtzAjBgId7xSCtiZ3a"
            "I6gy/4KE9eeTa0z8sfUCJFkw="
        ),
    ),
    "nb01.signal_noise": Exercise(
        check=close([0.6, 0.8], 0.01),
        hint=(
            'The forward process is x_t = sqrt(abar) * x_0 + sqrt(1 - abar) * noise. Put abar'
            ' = 0.36 into both square roots.'
        ),
        solution=(
            "zb64:eNpLzCsuTy1SsFXQyCvQKy4sKtEw0DM209RRgHENFXQVwEKaCgoKygpAaTMdoICFJgDwRg6P"
        ),
    ),
    "nb01.score": Exercise(
        title="From predicted noise to the score",
        check=close([-0.5, 1.0], 0.01),
        hint=(
            'The score of q(x_t | x_0) is -(x_t - sqrt(abar) x_0) / (1 - abar) = -eps / sigma_t, '
            'with sigma_t = sqrt(1 - abar). Work out sigma_t first.'
        ),
        solution=(
            "zb64:eNpNjMsKgzAQRff9igvdKJgY6QMR+iXiYihBs+jEzgSkf+/UlXd5zuFqmj+EF3j1+pVSdXAI/vascdr"
            "VUH8h1i2Ktc5iEqFfNQZ/b+DMTjVa6HH270djjwadD9OAskToO0vEmhMXBc2UWMshOCeNOxssJT0="
        ),
    ),
    "nb01.q1": question(
        'At the end of the forward process, $x_T$ is ...',
        (
            'close to a standard normal sample, nearly independent of $x_0$',
            'exactly zero',
            'the data with a little noise',
        ),
        "zb64:eNpLBAAAYgBi",
        hint='Look at the printed mean and std at t = T, and at √ᾱ_T.',
        why=(
            "zb64:eNrT0krU1NJSeNQx6+G+jfEhCpnFCok5ufnFJQoGOgrF+QoVQLFHnR0K57Yq1Cn4aQAFPTWtFEoyUhWKSxK"
            "LShTy0xSKE3MLcjLz0hXyUlNTihXy8hVSEksS9QDOmiAU"
        ),
    ),
    "nb01.q2": question(
        'The network predicts the noise $\\hat\\varepsilon$ in $x_t$, with $\\sigma_t = '
        '\\sqrt{1-\\bar\\alpha_t}$. The score $\\nabla \\log p_t(x_t)$ is then estimated by ...',
        (
            '$\\hat\\varepsilon$',
            '$-\\hat\\varepsilon/\\sigma_t$',
            '$\\sigma_t\\,\\hat\\varepsilon$',
        ),
        "zb64:eNpLAgAAYwBj",
        hint='Read the theory cell on the score: the noise points away from the data.',
        why=(
            "zb64:eNrT0krS1NJScMsvUkhUcE8sLS7OTMxTKNSoiC+pqYg30FQoyUhVKE7OL0pVyCxW0AWJK+gqPOqY9XDfRgW"
            "QAv3zzfElhzYp2CrontsK5lgpFBSlpmQml2TmpYO15+VnFoO1o4mDjdVRKC1QKMkHC6QlJpcAHaJrCDZHDwAfzTj"
            "y"
        ),
    ),
    "nb01.q3": question(
        'DDIM samples in 10 steps with a network trained for the 100-step DDPM. What must change?',
        (
            'nothing: DDIM is ancestral sampling',
            'the network must be retrained for 10 steps',
            ('only the update rule: the same noise predictor is reused, with a deterministic jump '
             'between any two noise levels'),
        ),
        "zb64:eNpLBgAAZABk",
        hint="Look at how toy.ToyDDPM.sample(steps=..., method='ddim') uses self.net.",
        why=(
            "zb64:eNody7EJgDAQRuFV/lKDEbW1tbEICE5w6BGDcpF44mSu4UyK5YPvGTPlxqDreodsjOLBCtpKNFVT50h8Hny"
            "APjA4q4mC8IzntsJ6xbS2CIppIfGf0oVx7jMpF5Cof/9LEF++qN8ivA=="
        ),
    ),
}
