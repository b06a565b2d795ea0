"""The load test's hub: deploy/jupyterhub_config.py (recipe A) with the test's overrides.

Read by ``jupyterhub -f`` from hub.py, which passes the settings in CRYSTAL_LAB_LOADTEST_*
variables. Overrides: DummyAuthenticator (any name logs in; loopback only), SimpleLocalProcess-
Spawner (students run as this machine's user, each with a home of their own), loopback ports,
a service token for the REST API, the students' environment on PATH. Everything else (the
workspace seeding, thread caps, limits, culler, instructor unlock) is the recipe's.
"""
import os
from pathlib import Path

env = os.environ.get
c = get_config()  # noqa: F821 (provided by JupyterHub)
load_subconfig(str(Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"))  # noqa: F821

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set()
c.DummyAuthenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = env("CRYSTAL_LAB_LOADTEST_HOMES") + "/{username}"

c.JupyterHub.bind_url = f"http://127.0.0.1:{env('CRYSTAL_LAB_LOADTEST_PORT')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{env('CRYSTAL_LAB_LOADTEST_HUB_PORT')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('CRYSTAL_LAB_LOADTEST_API_PORT')}"
c.ConfigurableHTTPProxy.command = [env("CRYSTAL_LAB_LOADTEST_CHP")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 600  # 16 servers starting at once on 2 shared cores are slow
c.Spawner.http_timeout = 600

c.JupyterHub.services = [*c.JupyterHub.services, {
    "name": "loadtest", "api_token": env("CRYSTAL_LAB_LOADTEST_TOKEN")}]
c.JupyterHub.load_roles = [*c.JupyterHub.load_roles, {
    "name": "loadtest", "services": ["loadtest"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users",
               "read:servers", "admin:groups"]}]

environment = dict(c.Spawner.environment)
threads = env("CRYSTAL_LAB_LOADTEST_THREADS", "")
if threads == "default":  # torch's own choice (one thread per core)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        environment.pop(key, None)
elif threads:
    environment.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                       OPENBLAS_NUM_THREADS=threads)
for key in ("CRYSTAL_LAB_DATA", "CRYSTAL_LAB_CACHE", "CRYSTAL_LAB_CI"):
    if env(key):
        environment[key] = env(key)
# user-venv borrows the project's packages through a .pth file, but Jupyter looks for
# JupyterLab's assets, the widget extensions and the server-extension switches under sys.prefix:
# point it at the project's prefix too
prefix = env("CRYSTAL_LAB_LOADTEST_PROJECT_PREFIX")
environment["JUPYTER_PATH"] = f"{prefix}/share/jupyter"
environment["JUPYTER_CONFIG_PATH"] = f"{prefix}/etc/jupyter"
if env("CRYSTAL_LAB_LOADTEST_LAB_SETTINGS"):  # the browser check's JupyterLab settings
    environment["JUPYTERLAB_SETTINGS_DIR"] = env("CRYSTAL_LAB_LOADTEST_LAB_SETTINGS")
c.Spawner.environment = environment
if os.geteuid() == 0:  # containers and CI run as root; jupyter-server refuses without this
    c.Spawner.args = [*(c.Spawner.args if "args" in c.Spawner else []), "--allow-root"]
