"""A kernel's first plotly figure does not pay for rfc3987_syntax's 39 Lark grammars (4.6 s on a
quiet core, 8-10 s under load): crystal_lab.view marks that module absent in a kernel that has
not imported jsonschema yet, and a notebook still validates."""
import subprocess
import sys

_PROBE = """
import sys
{setup}
import crystal_lab.view
import nbformat
import plotly.io as pio

pio.renderers.default   # the renderers import nbformat, jsonschema and its format checkers
nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]))
marked = "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None
print(marked, "lark" in sys.modules)
"""


def _probe(setup: str, env_extra: dict | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CRYSTAL_LAB_KEEP_IRI_CHECKER"}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", _PROBE.format(setup=setup)], capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_in_a_kernel_the_lark_grammars_are_never_built():
    assert _probe("import ipykernel") == ["True", "False"]


def test_outside_a_kernel_or_when_asked_nothing_changes():
    installed = subprocess.run([sys.executable, "-c", "import rfc3987_syntax"],
                               capture_output=True, check=False).returncode == 0
    assert _probe("") == ["False", str(installed)]
    kept = _probe("import ipykernel", {"CRYSTAL_LAB_KEEP_IRI_CHECKER": "1"})
    assert kept == ["False", str(installed)]
