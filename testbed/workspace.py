"""A user's folder on the test bed: the example project and a juliapack.toml pointing at the test bed.

Used by the demo (testbed/demo.sh) and the docker tests, so both run juliapack the same way.
Usage: python3 testbed/workspace.py DIR MIRROR_URL   (reads $JULIAPACK_TESTBED_* from the environment)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REPOS_MOUNT = "/srv/juliapack-testbed"  # where the registry's file:// URLs point, in every container
REGISTRY_URL = f"file://{REPOS_MOUNT}/registry"
COMPETITION = "tiny-competition"
SERVE_COMPETITION = "tiny-serve"  # the clean-room inference-server competition
SERVE_DATA = ROOT / "testbed" / "competition" / SERVE_COMPETITION


def config_text(*, image: str, repos: Path, model: Path, mirror_url: str, notebook: bool = True) -> str:
    """juliapack.toml for the test bed: stand-in image, local Julia mirror and registry, no network."""
    text = f"""\
# The bundled example on the offline test bed (made by testbed/workspace.py).
julia = "1.5"
project = "Inference"

[build]
julia_mirror = "{mirror_url}"
image = "{image}"
pull = "never"
registries = ["{REGISTRY_URL}"]
volumes = ["{repos}:{REPOS_MOUNT}:ro"]
env = {{ JULIA_PKG_SERVER = "" }}
network = "none"
"""
    if notebook:
        text += f"""
[notebook]
owner = "alice"
model = "{model}"
competition = "{COMPETITION}"
args = "--input /kaggle/input/{COMPETITION} --output /kaggle/working"
inputs = ["{EXAMPLES / 'data'}:/kaggle/input/{COMPETITION}"]
timeout = 600
"""
    return text


def serve_config_text(*, image: str, repos: Path, model: Path, mirror_url: str) -> str:
    """juliapack.toml for the Forecast example, which serves the tiny-serve competition's predict."""
    build = config_text(image=image, repos=repos, model=model, mirror_url=mirror_url, notebook=False)
    return build.replace('project = "Inference"', 'project = "Forecast"') + f"""
[notebook]
owner = "alice"
model = "{model}"
serve = true
competition = "{SERVE_COMPETITION}"
inputs = ["{SERVE_DATA}:/kaggle/input/{SERVE_COMPETITION}"]
timeout = 600
"""


def make_serving(folder: Path, *, image: str, repos: Path, model: Path, mirror_url: str) -> Path:
    """Copy the Forecast example into ``folder`` and write its juliapack.toml (an inference-server competition)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "Forecast", ignore_errors=True)
    shutil.copytree(EXAMPLES / "Forecast", folder / "Forecast")
    (folder / "juliapack.toml").write_text(serve_config_text(image=image, repos=repos, model=model, mirror_url=mirror_url))
    return folder


def make(folder: Path, *, image: str, repos: Path, model: Path, mirror_url: str, notebook: bool = True) -> Path:
    """Copy the example project into ``folder`` (replacing an older copy) and write its juliapack.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "Inference", ignore_errors=True)
    shutil.copytree(EXAMPLES / "Inference", folder / "Inference")
    config = config_text(image=image, repos=repos, model=model, mirror_url=mirror_url, notebook=notebook)
    (folder / "juliapack.toml").write_text(config)
    return folder


if __name__ == "__main__":
    env = os.environ
    make(
        Path(sys.argv[1]),
        image=env["JULIAPACK_TESTBED_IMAGE"],
        repos=Path(env["JULIAPACK_TESTBED_REPOS"]),
        model=Path(env["JULIAPACK_TESTBED_MODEL"]),
        mirror_url=sys.argv[2],
    )
