"""A crystal_lab class on one machine: plain JupyterHub (docs/deploy.md, recipe A).

    sudo /opt/hub/bin/jupyterhub -f deploy/jupyterhub_config.py

Who may log in comes from two files beside this one (one user name a line, ``#`` comments):
``instructors.txt`` (hub admins, and the solutions unlocked in their servers) and
``students.txt``. Everyone logs in with their name and the shared class password
(``CRYSTAL_LAB_HUB_PASSWORD``); instructors with ``CRYSTAL_LAB_HUB_ADMIN_PASSWORD``.

Spawner: SystemdSpawner (``pip install jupyterhub-systemdspawner``) with systemd's dynamic users:
no Linux accounts to create, each student's server in its own cgroup, so the memory and CPU
limits are enforced. Without it (a container, no systemd) it falls back to LocalProcessSpawner,
which needs a Linux account per student and does NOT enforce the limits.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from crystal_lab_hub import configure, read_user_list

c = get_config()  # noqa: F821 (provided by JupyterHub)

instructors = read_user_list(HERE / "instructors.txt")
students = read_user_list(HERE / "students.txt")
configure(c, instructors=instructors, students=students,
          notebooks=os.environ.get("CRYSTAL_LAB_NOTEBOOKS", str(HERE.parent / "notebooks")))
c.Authenticator.admin_users = set(instructors)

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("CRYSTAL_LAB_HUB_PASSWORD", "")
c.SharedPasswordAuthenticator.admin_password = os.environ.get("CRYSTAL_LAB_HUB_ADMIN_PASSWORD", "")

try:
    import systemdspawner  # noqa: F401
except ImportError:
    print("crystal_lab hub: jupyterhub-systemdspawner is not installed: LocalProcessSpawner, "
          "memory and CPU limits NOT enforced", file=sys.stderr)
else:
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.dynamic_users = True  # a throwaway uid per student, home in /var/lib/private
    c.SystemdSpawner.unit_name_template = "crystal-lab-{USERNAME}"
    c.SystemdSpawner.disable_user_sudo = True

# where the hub listens (put a TLS proxy, or c.JupyterHub.ssl_cert/ssl_key, in front)
# and keeps state
c.JupyterHub.bind_url = os.environ.get("CRYSTAL_LAB_HUB_URL", "http://:8000")
STATE = Path(os.environ.get("CRYSTAL_LAB_HUB_STATE", "/srv/crystal_lab_hub"))
STATE.mkdir(parents=True, exist_ok=True)
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
