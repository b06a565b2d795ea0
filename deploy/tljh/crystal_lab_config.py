"""The crystal_lab class policy for The Littlest JupyterHub (docs/deploy.md, recipe A).

Copy into TLJH's config folder and reload:

    sudo cp deploy/crystal_lab_hub.py deploy/tljh/crystal_lab_config.py \
        /opt/tljh/config/jupyterhub_config.d/
    sudo tljh-config reload hub

TLJH already runs SystemdSpawner (limits enforced through cgroups) and its own idle culler
(set its timeout with ``sudo tljh-config set services.cull.timeout 3600``), so culling is left
to TLJH here. Instructors: the names in /opt/tljh/config/crystal_lab_instructors.txt.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crystal_lab_hub import configure, read_user_list

c = get_config()  # noqa: F821 (provided by JupyterHub)
configure(c, instructors=read_user_list("/opt/tljh/config/crystal_lab_instructors.txt"),
          notebooks="/opt/crystal_lab/notebooks", cull_timeout=None)
