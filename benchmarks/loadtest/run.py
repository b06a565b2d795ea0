"""Load test of the class hub: how many students one machine holds (`make loadtest`).

For each N it starts a fresh hub (hub.py: the single-machine recipe with a dummy login and the
local process spawner, on 127.0.0.1 only), creates N students through the Hub's REST API, starts
their servers all at once, and drives every student's kernel over the Jupyter server API and its
websocket through the proxy, phase by phase, all students together (a class pressing Run):

    kernel   start a python3 kernel
    setup    import crystal_lab as cl; model = cl.load_model()
    generate atoms = model.sample("Ba Ti O", n_atoms=5, n_samples=3, seed=0)      (notebook 03)
    evaluate summarize(atoms, stability=False)                                   (no CHGNet)
    chgnet   summarize(atoms)                                                    (CHGNet stability)

It records each student's time per phase, failures, and the memory of every kernel and server
(RSS sampled each second; PSS, which counts shared pages once, at the end of each phase).
Bounded: a time budget for the whole sweep (larger N are skipped when it would overrun), a
timeout per phase, at most 64 students. Everything it started is stopped by process id, also
on an error or Ctrl-C.

    python benchmarks/loadtest/run.py --n 1 2 4 8 16 --budget 690
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub import BUILD, REPO, Hub, start_hub
from kernel import Kernel

PROMPT = ("Ba Ti O", 5, 3)
PHASES = {
    "setup": "import crystal_lab as cl\nmodel = cl.load_model()",
    "generate": (f'atoms = model.sample("{PROMPT[0]}", n_atoms={PROMPT[1]}, '
                 f'n_samples={PROMPT[2]}, seed=0)\nprint(len(atoms))'),
    "evaluate": ("from crystal_lab.evaluate import summarize\n"
                 "s = summarize(atoms, stability=False)\nprint(len(s.table))"),
    "chgnet": "s = summarize(atoms)\nprint(len(s.table))",
}
MAX_STUDENTS = 64
GB = 1024 ** 3


# --------------------------------------------------------------------------- memory
class MemoryWatch:
    """Samples the hub's process tree every ``every`` s: peak RSS per kernel and per server
    (keyed by student), peak total RSS of the tree."""

    def __init__(self, hub: Hub, every: float = 1.0):
        self.hub, self.every = hub, every
        self.kernel_peak: dict[str, int] = {}
        self.server_peak: dict[str, int] = {}
        self.total_peak = 0
        self.pss: dict[str, int] = {}
        self.kernel_cpu: dict[str, dict[str, float]] = {}  # phase -> student -> CPU s so far
        self._owner: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _user_of(self, proc: psutil.Process) -> str | None:
        if proc.pid not in self._owner:
            try:
                self._owner[proc.pid] = proc.environ().get("JUPYTERHUB_USER", "")
            except psutil.Error:
                return None
        return self._owner[proc.pid] or None

    def sample(self) -> None:
        total = 0
        for proc in [psutil.Process(self.hub.process.pid), *self.hub.descendants()]:
            try:
                rss = proc.memory_info().rss
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            total += rss
            user = self._user_of(proc) if "ipykernel" in cmd or "singleuser" in cmd else None
            if user and "ipykernel" in cmd:
                self.kernel_peak[user] = max(self.kernel_peak.get(user, 0), rss)
            elif user:
                self.server_peak[user] = max(self.server_peak.get(user, 0), rss)
        self.total_peak = max(self.total_peak, total)

    def pss_total(self, phase: str) -> None:
        """Sum of PSS over the tree (shared pages counted once): the memory really in use."""
        total = 0
        for proc in [psutil.Process(self.hub.process.pid), *self.hub.descendants()]:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                continue
        self.pss[phase] = total

    def cpu_total(self, phase: str) -> None:
        """CPU seconds (user + system) each student's kernel has used so far: the work itself,
        whatever else runs on the machine."""
        used = {}
        for proc in self.hub.descendants():
            try:
                if "ipykernel" not in " ".join(proc.cmdline()):
                    continue
                user, times = self._user_of(proc), proc.cpu_times()
            except psutil.Error:
                continue
            if user:
                used[user] = times.user + times.system
        self.kernel_cpu[phase] = used

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sample()
            except psutil.Error:  # a process vanished mid-walk: next round
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- one class
def start_server(hub: Hub, user: str, timeout: float) -> float:
    t0 = time.monotonic()
    hub.api(f"/users/{user}/server", method="POST", body={}, timeout=timeout)
    while time.monotonic() - t0 < timeout:
        server = (hub.api(f"/users/{user}", timeout=30).get("servers") or {}).get("")
        if server and server.get("ready"):
            return time.monotonic() - t0
        if not server and time.monotonic() - t0 > 5:
            raise RuntimeError(f"{user}: the server stopped while starting")
        time.sleep(0.5)
    raise TimeoutError(f"{user}: server not ready within {timeout:.0f} s")


def run_class(n: int, run_dir: Path, threads: str, phases: list[str], deadline: float) -> dict:
    """One hub, ``n`` students, every phase; returns the measurements."""
    result = {"n": n, "threads": threads, "phases": {}, "failures": [], "startup_s": {}}
    hub = start_hub(run_dir, env={"CRYSTAL_LAB_LOADTEST_THREADS": threads})
    watch = MemoryWatch(hub)
    kernels: dict[str, Kernel] = {}
    try:
        users = [f"student-{i:02d}" for i in range(1, n + 1)]
        hub.api("/users", method="POST", body={"usernames": users})

        def left() -> float:
            return max(5.0, deadline - time.monotonic())

        alive = list(users)
        with ThreadPoolExecutor(max_workers=n) as pool:
            # all servers at once, as a class logging in together
            futures = {u: pool.submit(start_server, hub, u, left()) for u in users}
            for u, fut in futures.items():
                try:
                    result["startup_s"][u] = fut.result()
                except Exception as exc:  # noqa: BLE001 (every failure is a result)
                    result["failures"].append(f"server {u}: {exc}")
                    alive.remove(u)
            watch.sample()

            def kernel_start(u):
                kernels[u] = Kernel(hub, u)
                return kernels[u].start(timeout=left())

            for phase in ["kernel", *phases]:
                if phase == "kernel":
                    futures = {u: pool.submit(kernel_start, u) for u in alive}
                else:
                    futures = {u: pool.submit(kernels[u].execute, PHASES[phase], left())
                               for u in alive}
                times = {}
                for u, fut in futures.items():
                    try:
                        out = fut.result()
                        times[u] = out if phase == "kernel" else out[0]
                    except Exception as exc:  # noqa: BLE001 (KernelError, HTTP, timeouts: all count)
                        result["failures"].append(f"{phase} {u}: {exc}")
                        alive.remove(u)
                result["phases"][phase] = times
                watch.sample()
                watch.pss_total(phase)
                watch.cpu_total(phase)
                print(f"  N={n} {phase:8s} " + _stats_text(list(times.values())), flush=True)
        result["dead_kernels"] = _dead_kernels(hub, kernels)
    finally:
        watch.stop()
        for k in kernels.values():
            k.close(shutdown=False)  # the hub stops the servers, and so the kernels
        hub.stop()
    result.update(kernel_peak_rss=watch.kernel_peak, server_peak_rss=watch.server_peak,
                  total_peak_rss=watch.total_peak, total_pss=watch.pss,
                  kernel_cpu_s=watch.kernel_cpu)
    return result


def _dead_kernels(hub: Hub, kernels: dict) -> list[str]:
    dead = []
    for u, k in kernels.items():
        try:
            state = hub.request(f"/user/{u}/api/kernels/{k.kernel_id}", timeout=30)
            if state.get("execution_state") == "dead":
                dead.append(u)
        except (OSError, ValueError):  # the server is gone: so is the kernel
            dead.append(u)
    return dead


# --------------------------------------------------------------------------- figures
def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    pos = (len(values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _stats_text(values: list[float]) -> str:
    if not values:
        return "no student finished"
    return (f"median {statistics.median(values):6.1f} s  p95 {percentile(values, 0.95):6.1f} s  "
            f"max {max(values):6.1f} s  ({len(values)} students)")


def summary_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        row = {"N": r["n"], "threads": r["threads"]}
        start = list(r["startup_s"].values())
        row["startup_median_s"] = statistics.median(start) if start else None
        row["startup_max_s"] = max(start) if start else None
        for phase, times in r["phases"].items():
            vals = list(times.values())
            row[f"{phase}_median_s"] = statistics.median(vals) if vals else None
            row[f"{phase}_p95_s"] = percentile(vals, 0.95) if vals else None
            row[f"{phase}_max_s"] = max(vals) if vals else None
        kpeaks = list(r["kernel_peak_rss"].values())
        row["kernel_peak_rss_gb"] = max(kpeaks) / GB if kpeaks else None
        speaks = list(r["server_peak_rss"].values())
        row["server_peak_rss_gb"] = max(speaks) / GB if speaks else None
        row["total_peak_rss_gb"] = r["total_peak_rss"] / GB
        row["total_pss_gb"] = max(r["total_pss"].values()) / GB if r["total_pss"] else None
        # CPU seconds per student and phase (median over students): the cost of the work
        cpu = r.get("kernel_cpu_s") or {}
        before: dict = {}
        for phase, used in cpu.items():
            spent = [t - before.get(u, 0.0) for u, t in used.items()]
            if spent:
                row[f"{phase}_cpu_s"] = statistics.median(spent)
            before = used
        row["failures"] = len(r["failures"]) + len(r.get("dead_kernels", []))
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], phases: list[str]) -> str:
    def f(x, fmt="{:.1f}"):
        return "-" if x is None else fmt.format(x)

    head = ["N", "threads", "start-up s (median / max)"]
    head += [f"{p} s (median / p95)" for p in phases]
    head += ["CPU s / student (" + ", ".join(phases) + ")"]
    head += ["peak RSS / kernel GB", "total PSS GB", "failures"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["N"]), r["threads"],
                 f"{f(r['startup_median_s'])} / {f(r['startup_max_s'])}"]
        cells += [f"{f(r.get(f'{p}_median_s'))} / {f(r.get(f'{p}_p95_s'))}" for p in phases]
        cells += [", ".join(f(r.get(f"{p}_cpu_s")) for p in phases)]
        cells += [f(r["kernel_peak_rss_gb"], "{:.2f}"), f(r["total_pss_gb"], "{:.2f}"),
                  str(r["failures"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, cores: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    with_chgnet = [r for r in rows if r.get("chgnet_median_s")]
    rows = [r for r in rows if not r.get("chgnet_median_s")]  # the sweep: setup + generate
    for threads in sorted({r["threads"] for r in rows}):
        rs = [r for r in rows if r["threads"] == threads and r.get("generate_median_s")]
        if not rs:
            continue
        ns = [r["N"] for r in rs]
        ax1.plot(ns, [r["generate_median_s"] for r in rs], "o-", label=f"median ({threads} thr)")
        ax1.plot(ns, [r["generate_p95_s"] for r in rs], "s--", label=f"p95 ({threads} thr)")
        single = [r for r in rs if r["N"] == 1]
        if single and threads == rows[0]["threads"]:
            base = single[0]["generate_median_s"]
            ax1.plot(ns, [base * max(1, n / cores) for n in ns], ":", color="gray",
                     label=f"single x N/{cores} cores")
            ax1.plot(ns, [4 * base] * len(ns), color="red", lw=0.8, label="4x single")
    ax1.set(xlabel="students sampling at once", ylabel="generation latency (s)",
            xscale="log", yscale="log", title='model.sample("Ba Ti O", 5 atoms, 3 samples)')
    ax1.set_xticks([r["N"] for r in rows], [str(r["N"]) for r in rows])
    ax1.legend(fontsize=7)
    rs = [r for r in rows if r["threads"] == rows[0]["threads"]]
    ns = [r["N"] for r in rs]
    ax2.plot(ns, [r["total_pss_gb"] or 0 for r in rs], "o-", label="total PSS (all students)")
    ax2.plot(ns, [r["kernel_peak_rss_gb"] or 0 for r in rs], "s-", label="peak RSS of one kernel")
    if with_chgnet:
        ax2.plot([r["N"] for r in with_chgnet], [r["total_pss_gb"] for r in with_chgnet], "k^",
                 label="total PSS, with summarize + CHGNet")
    ax2.set(xlabel="students", ylabel="GB", xscale="log", title="memory")
    ax2.set_xticks(ns, [str(n) for n in ns])
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8, 16],
                        help="class sizes (default 1 2 4 8 16)")
    parser.add_argument("--threads", nargs="+", default=["1"],
                        help='torch threads per kernel: numbers or "default" (default 1)')
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES),
                        help="phases after the kernel start (default: all; each needs the one "
                             "before it: setup < generate < evaluate < chgnet)")
    parser.add_argument("--budget", type=float, default=690.0,
                        help="seconds for the whole sweep (default 690)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "loadtest.json"))
    parser.add_argument("--plot", default=str(REPO / "assets" / "loadtest.png"))
    args = parser.parse_args(argv)
    if max(args.n) > MAX_STUDENTS or min(args.n) < 1:
        parser.error(f"--n: class sizes must be between 1 and {MAX_STUDENTS}")
    phases = [p for p in PHASES if p in args.phases]

    # Ctrl-C and SIGTERM unwind through the finally blocks that stop the hub
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t_start = time.monotonic()
    deadline = t_start + args.budget
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results, skipped = [], []
    last_cost = 0.0
    try:
        for threads in args.threads:
            for n in sorted(args.n):
                left = deadline - time.monotonic()
                # the cost of a class grows about linearly with N: skip what cannot finish
                if results and last_cost and left < last_cost * n / results[-1]["n"] * 0.8:
                    skipped.append({"n": n, "threads": threads, "why": "time budget"})
                    print(f"N={n} threads={threads}: skipped ({left:.0f} s left)")
                    continue
                print(f"N={n} threads={threads}", flush=True)
                t0 = time.monotonic()
                run_dir = BUILD / "runs" / stamp / f"n{n}-t{threads}"
                results.append(run_class(n, run_dir, threads, phases, deadline))
                last_cost = time.monotonic() - t0
                results[-1]["wall_s"] = last_cost
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130
    finally:
        if results:
            rows = summary_rows(results)
            print("\n" + markdown_table(rows, phases))
            meta = {"date": stamp, "cores": psutil.cpu_count(),
                    "memory_gb": psutil.virtual_memory().total / GB,
                    "load_avg_at_start": os.getloadavg(), "python": platform.python_version(),
                    "wall_s": time.monotonic() - t_start, "prompt": PROMPT, "phases": PHASES,
                    "skipped": skipped}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(
                {"meta": meta, "rows": rows, "runs": results}, indent=1, default=str))
            plot(rows, Path(args.plot), psutil.cpu_count())
            print(f"\nwrote {args.out} and {args.plot}")
    return 0 if all(r["failures"] == 0 for r in summary_rows(results)) else 1


if __name__ == "__main__":
    sys.exit(main())
