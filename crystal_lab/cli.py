"""The ``crystal-lab`` command.

    crystal-lab lab [--dir DIR]              JupyterLab on the course notebooks
    crystal-lab start [DIR]                  copy the notebooks into a workspace of yours, open it
    crystal-lab sample PROMPT --n-atoms N    generate crystals, write CIF files + one extxyz into a
                                             fresh folder (never into an earlier run's)
    crystal-lab train --epochs N ...         train (or resume) a model
    crystal-lab evaluate PATH...             validity / uniqueness / novelty / stability summary

Every subcommand imports what it needs when it runs, so ``crystal-lab --help`` is instant.
Bad input ends with a one-line ``crystal-lab <command>: error: ...`` and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from crystal_lab import __version__, workspace
from crystal_lab.arguments import check_number

# --------------------------------------------------------------------------- JupyterLab

def jupyter_lab_command(root: str | os.PathLike, port: int | None = None,
                        no_browser: bool = False) -> list[str]:
    """The command that serves JupyterLab with ``root`` as its file browser's top folder,
    opening the welcome notebook when ``root`` has one."""
    root = Path(root).resolve()
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if (root / workspace.WELCOME_NOTEBOOK).is_file():
        cmd.append(str(root / workspace.WELCOME_NOTEBOOK))  # the browser opens on this notebook
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if no_browser:
        cmd.append("--no-browser")
    return cmd


#: the test suite's switch to tiny notebook sizes; the course itself never runs with it
CI_SIZE_ENV = "CRYSTAL_LAB_CI"


def lab_environment(environ: dict | None = None) -> dict:
    """The environment JupyterLab and its kernels start with: the notebooks' workshop defaults
    (a ``CRYSTAL_LAB_CI`` left in the shell by a test run is dropped) and one torch (OpenMP/MKL)
    thread per kernel unless ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` are already set. Measured
    in benchmarks/results/threads.json: with other work on the cores (a class, a shared Binder
    host), two threads made one sampling call many times slower than one thread."""
    env = dict(os.environ if environ is None else environ)
    env.pop(CI_SIZE_ENV, None)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def launch(cmd: list[str]) -> int:
    """Run ``cmd`` in the foreground (Ctrl-C stops JupyterLab) and return its exit status."""
    try:
        return subprocess.call(cmd, env=lab_environment())
    except KeyboardInterrupt:
        return 130


def _open_lab(root, args) -> int:
    cmd = jupyter_lab_command(root, port=args.port, no_browser=args.no_browser)
    if os.environ.get(CI_SIZE_ENV):
        print(f"crystal-lab {args.command}: {CI_SIZE_ENV} is the test suite's size switch; "
              "the notebooks open at their workshop defaults", file=sys.stderr)
    if args.dry_run:
        print(shlex.join(cmd))
        return 0
    return launch(cmd)


def _cmd_lab(args) -> int:
    root = Path(args.dir) if args.dir else workspace.notebooks_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    return _open_lab(root, args)


def _cmd_start(args) -> int:
    report = workspace.create_workspace(args.dir, source=args.source)
    print(report.summary())
    return _open_lab(report.dest, args)


# --------------------------------------------------------------------------- model work

def _cmd_sample(args) -> int:
    from crystal_lab import load_model

    out = workspace.check_run_folder(args.out)  # a file there, a read-only folder: before sampling
    model = load_model(path=args.model, device=args.device)
    kwargs = {"n_atoms": args.n_atoms, "n_samples": args.n_samples, "steps": args.steps,
              "seed": args.seed, "allow_large": args.allow_large, "space_group": args.space_group}
    try:                                        # bad input ends here, before any folder is made
        model.check(args.prompt, **kwargs)
    except ValueError as err:                   # say it in this command's words
        raise ValueError(str(err).replace("allow_large=True", "--allow-large")) from None
    structures = model.sample(args.prompt, progress=not args.quiet, **kwargs)
    # the folder is claimed for this run alone (another run started beside it gets DIR-2, ...)
    paths = workspace.write_structures(structures, out, extxyz_name="samples.extxyz",
                                       next_free=True)
    moved = f" ({out} already holds a run)" if paths[0].parent != out else ""
    print(f"wrote {len(structures)} structure(s) to {paths[0].parent}{moved}: "
          f"{len(paths) - 1} CIF file(s) and {paths[-1].name}")
    return 0


def _folder_name(text: str) -> str:
    """An argparse type: a folder name that is not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty name")
    return text


def _whole(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            return check_number("value", int(text), integer=True, minimum=minimum)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number >= {minimum}, got {text!r}"
            ) from None
    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _steps(text: str) -> int | str:
    """An argparse type for ``--steps``: a whole number >= 1 or ``full``."""
    if text.strip().lower() == "full":
        return "full"
    try:
        return _whole(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number >= 1 or 'full', got {text!r}"
        ) from None


#: ``crystal-lab train`` option -> field of ``crystal_lab.training.train_config.TrainConfig``
#: (``--resume``: the run to continue, a keyword of ``train``), its type and its help
TRAIN_OPTIONS = {
    "--data": ("data", str, "data set: mp_20, perov_5 or carbon_24 (default mp_20)"),
    "--split": ("split", str, "split to train on: train, val or test (default val)"),
    "--limit": ("limit", _whole(1), "use only the first N structures of the split"),
    "--epochs": ("epochs", _whole(1), "epochs of the whole run (default 10)"),
    "--max-steps": ("max_steps", _whole(1),
                    "stop cleanly (with a checkpoint) after N optimiser steps in all"),
    "--max-minutes": ("max_minutes", _positive,
                      "stop cleanly (with a checkpoint) after this long (each session)"),
    "--device": ("device", str, "auto, cpu or cuda"),
    "--out": ("out_dir", str,
              ("run folder for checkpoints and logs (default runs/model; with --resume: "
                               "the checkpoint's folder)")),
    "--resume": ("resume", str,
                 ("continue the run of this last.pt: its data, network, schedule and budgets "
                                 "(flags given must agree with it, except --epochs, --max-steps, "
                                 "--max-minutes, --out, --save-every, --device)")),
    "--init": ("init", str,
               "start from these weights with a fresh optimiser (any shipped/exported file)"),
    "--hidden": ("hidden", _whole(1), "hidden width of the denoiser (default 128)"),
    "--layers": ("layers", _whole(1), "message-passing layers (default 4)"),
    "--batch-size": ("batch_size", _whole(1), "crystals per batch (default 64)"),
    "--lr": ("lr", _positive, "learning rate (default 1e-3)"),
    "--cosine": ("cosine", bool, "decay the learning rate (cosine) over the run"),
    "--symmetric": ("symmetric", bool,
                    "DiffCSP++ noise: each crystal's own orbits and lattice family"),
    "--seed": ("seed", _whole(0), "random seed (default 0)"),
    "--save-every": ("save_every_minutes", _positive,
                     "minutes between periodic checkpoints (default 10)"),
}
#: the flag of each TrainConfig field, for messages
TRAIN_FLAGS = {dest: flag for flag, (dest, _, _) in TRAIN_OPTIONS.items()}


def _cmd_train(args) -> int:
    from crystal_lab.training.loop import train
    from crystal_lab.training.run_files import OccupiedRunFolder, RunFolderInUse
    from crystal_lab.training.train_config import RunMismatch

    kwargs = {dest: getattr(args, dest) for dest, _, _ in TRAIN_OPTIONS.values()
              # only what was given: the resumed run's or TrainConfig's for the rest
              if hasattr(args, dest)}
    try:
        train(**kwargs)                 # a planned stop prints its reason and the checkpoint's path
    except OccupiedRunFolder as err:    # say it in this command's words
        raise ValueError(err.say(resume="--resume ", out_dir="--out folder")) from None
    except RunMismatch as err:
        raise ValueError(err.say(flag=TRAIN_FLAGS.get(err.name))) from None
    except RunFolderInUse as err:
        raise RunFolderInUse(str(err).replace("another out_dir", "another --out folder")) from None
    return 0


def _cmd_evaluate(args) -> int:
    structures = workspace.read_structures(args.paths)
    if not structures:
        raise ValueError("no structures found in " + " ".join(args.paths))
    from crystal_lab.evaluate import summarize

    summary = summarize(structures, stability=not args.no_stability)
    if args.table:
        print(summary.table.to_string())
    print(summary.text())
    if args.csv:
        print(f"table written to {summary.save(args.csv)}")
    return 0


# --------------------------------------------------------------------------- parser

def _add_lab_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="JupyterLab port (default: its own)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--dry-run", action="store_true",
                   help="print the JupyterLab command instead of running it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crystal-lab",
        description="A Jupyter lab for diffusion models that generate crystal structures.")
    parser.add_argument("--version", action="version", version=f"crystal-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_lab_commands(sub)
    _add_sample_command(sub)
    _add_train_command(sub)
    _add_evaluate_command(sub)
    return parser


def _add_lab_commands(sub) -> None:
    """``lab`` and ``start``: JupyterLab on the notebooks, or on a copy of them."""
    p = sub.add_parser("lab", help="open JupyterLab on the course notebooks")
    p.add_argument("--dir", default=None,
                   help="folder to open (default: the course's notebooks/)")
    _add_lab_options(p)
    p.set_defaults(func=_cmd_lab)

    p = sub.add_parser("start", help="copy the notebooks into your own workspace and open it "
                                     "(existing files are never overwritten)")
    p.add_argument("dir", nargs="?", default="crystal_lab_workspace",
                   help="workspace folder (default: ./crystal_lab_workspace)")
    p.add_argument("--source", default=None, help="notebook folder to copy from "
                                                  "(default: the course's notebooks/)")
    _add_lab_options(p)
    p.set_defaults(func=_cmd_start)


def _add_sample_command(sub) -> None:
    """``sample``: generate crystals and write their files."""
    p = sub.add_parser("sample", help="generate crystals and write CIF + extxyz files")
    p.add_argument("prompt", nargs="?", default=None,
                   help='"Ba Ti O", "BaTiO3", "Ba1 O3 Ti1", "Fm-3m NaCl", "NaCl sg=1" (the free '
                        'model); omit for unconditional samples')
    p.add_argument("--n-atoms", type=_whole(1), default=None, help="atoms per cell")
    p.add_argument("--n-samples", type=_whole(1), default=1, help="number of crystals (default 1)")
    p.add_argument("--steps", type=_steps, default=None,
                   help="reverse steps, or 'full' for the trained 1000-step schedule (default: the "
                        "model's)")
    p.add_argument("--seed", type=_whole(0), default=None, help="random seed")
    p.add_argument("--space-group", default=None, type=lambda v: int(v) if v.isdigit() else v,
                   help="symmetry by construction: 225 or Fm-3m (default: a space-group template "
                        "drawn from MP-20 val's for the prompt; 1 = P1, the free model)")
    p.add_argument("--allow-large", action="store_true",
                   help="run more samples or steps than the caps (the refusal says how long it "
                        "would take)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped MP-20 model)")
    p.add_argument("--out", type=_folder_name, default="samples",
                   help="output folder (default ./samples), checked before sampling; if it holds a "
                        "run already (or another run claims it first), the run goes to the first "
                        "free DIR-2, DIR-3, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sample)


def _add_train_command(sub) -> None:
    """``train``: one flag per :data:`TRAIN_OPTIONS` entry."""
    p = sub.add_parser(
        "train",
        help="train or resume a model (options left out take the resumed "
        "run's values, else crystal_lab.training.train_config.TrainConfig's)",
    )
    for flag, (dest, kind, text) in TRAIN_OPTIONS.items():
        if kind is bool:
            p.add_argument(flag, dest=dest, action="store_true", default=argparse.SUPPRESS,
                           help=text)
        else:
            p.add_argument(flag, dest=dest, type=kind, default=argparse.SUPPRESS, help=text)
    p.set_defaults(func=_cmd_train)


def _add_evaluate_command(sub) -> None:
    """``evaluate``: summarise structure files."""
    p = sub.add_parser("evaluate", help="summarise generated crystals (CIF / extxyz files or "
                                        "folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--no-stability", action="store_true",
                   help="skip the CHGNet stability estimate (fast)")
    p.add_argument("--table", action="store_true", help="also print one row per structure")
    p.add_argument("--csv", default=None, help="write the per-structure table to this CSV file")
    p.set_defaults(func=_cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crystal-lab`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"crystal-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc: BaseException) -> bool:
    """Bad input, missing files or packages, and crystal_lab's own errors (e.g. a missing
    checkpoint): things a user can fix, reported without a traceback."""
    return (isinstance(exc, (ValueError, OSError, ImportError))
            or type(exc).__module__.split(".")[0] == "crystal_lab")


if __name__ == "__main__":
    sys.exit(main())
