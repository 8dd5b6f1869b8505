"""What artifacts.jl found beyond the packages and hashes `build.DepotReport` reads.

artifacts.jl writes one report; `DepotReport` reads its ``package``, ``extension`` and ``artifact``
lines (and ignores the rest), this module the lines added for modern Julia:

    selected       HASH  OWNER  NAME  HOW    an artifact installed for the target (HOW: hook, select, meta)
    selector       OWNER  COUNT              OWNER's .pkg/select_artifacts.jl ran and chose COUNT artifacts
    project        NAME  UUID  DIR           the active project (UUID empty when it is no package)
    scratchspace   UUID  OWNER               a scratch space to keep beyond the Manifest's packages
    manifest       PATH                      the Manifest Julia's loader reads
    bundled-depot  PATH                      a default depot inside the Julia prefix (stdlib caches, 1.9+)

The project's own extensions arrive as ``extension`` lines, so `DepotReport` already keeps their caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from juliapack.errors import BuildFailed, InputError


@dataclass(frozen=True)
class Selected:
    hash: str
    owner: str
    name: str
    how: str  # hook (the package's select_artifacts.jl), select (Pkg 1.7+), meta (1.5/1.6 loop)


@dataclass(frozen=True)
class EnvReport:
    project_name: str
    project_uuid: str | None
    project_dir: str
    manifest: str | None
    bundled_depots: tuple[str, ...]
    scratchspaces: frozenset[str]  # uuids; add them to the uuids whose scratchspaces/ folder is kept
    selected: tuple[Selected, ...]
    selectors: tuple[tuple[str, int], ...]  # (owner, how many artifacts its hook chose)

    @classmethod
    def read(cls, path: Path) -> EnvReport:
        return cls.parse(path.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, text: str) -> EnvReport:
        rows = [line.split("\t") for line in text.splitlines() if line]
        projects = [fields[1:4] for fields in rows if fields[0] == "project" and len(fields) == 4]
        if len(projects) != 1:
            raise BuildFailed(
                f"the environment report names {len(projects)} projects, not one",
                fix="this is a bug in juliapack's artifacts.jl or a stale report: build again with --fresh",
            )
        (name, uuid, folder), = projects
        manifests = [fields[1] for fields in rows if fields[0] == "manifest"]
        return cls(
            project_name=name,
            project_uuid=uuid or None,
            project_dir=folder,
            manifest=manifests[0] if manifests else None,
            bundled_depots=tuple(fields[1] for fields in rows if fields[0] == "bundled-depot"),
            scratchspaces=frozenset(fields[1] for fields in rows if fields[0] == "scratchspace"),
            selected=tuple(Selected(*fields[1:5]) for fields in rows if fields[0] == "selected"),
            selectors=tuple((fields[1], int(fields[2])) for fields in rows if fields[0] == "selector"),
        )


def manifest_names(version: tuple[int, int, int]) -> tuple[str, ...]:
    """The Manifest file names Julia ``version`` tries, first match wins (loading.jl ``manifest_names``):
    from 1.10.8 the versioned names come first, JuliaManifest before Manifest each time."""
    plain = ("JuliaManifest.toml", "Manifest.toml")
    if version < (1, 10, 8):
        return plain
    series = f"v{version[0]}.{version[1]}"
    return (f"JuliaManifest-{series}.toml", f"Manifest-{series}.toml", *plain)


def check_manifest(report: EnvReport, *, expected: str) -> None:
    """Julia must read the Manifest juliapack checked and packs: ``expected`` is its file name
    (``Manifest.toml``, ``Manifest-v1.11.toml``...) inside the project folder."""
    if report.manifest is None:
        raise InputError(
            f"Julia finds no Manifest for {report.project_name} in the build container",
            fix="commit the Manifest next to Project.toml (a workspace member needs the workspace root's)",
        )
    found = PurePosixPath(report.manifest)
    if found.parent != PurePosixPath(report.project_dir):
        raise InputError(
            f"Julia reads {report.project_name}'s Manifest from {found}, outside the project folder "
            "(a [workspace] member uses the workspace root's), which the app layer does not carry",
            fix="build the workspace root as the project, or take this project out of [workspace] and give it its own Manifest",
        )
    if found.name != expected:
        raise InputError(
            f"Julia reads {found.name}, but juliapack checked {expected}",
            fix=f"keep one Manifest for this Julia version (delete the other, or regenerate {found.name} with Pkg.resolve())",
        )


def check_bundled_depots(report: EnvReport, depot_path: tuple[str, ...]) -> None:
    """Every depot bundled with Julia must stay on JULIA_DEPOT_PATH, or its stdlib caches go unused."""
    missing = [depot for depot in report.bundled_depots if depot not in depot_path]
    if missing:
        raise BuildFailed(
            f"JULIA_DEPOT_PATH leaves out {', '.join(missing)}, bundled with this Julia: its stdlib caches would be compiled again",
            fix="this is a bug in juliapack's layout for this Julia version; as a workaround set JULIA_DEPOT_PATH with a trailing ':'",
        )


def empty_selections(report: EnvReport) -> list[str]:
    """Warnings for packages whose select_artifacts.jl chose nothing: they have no library on Kaggle either."""
    return [
        f"{owner}'s select_artifacts.jl chose no artifact for this platform, so it has no library on Kaggle either"
        " (a CUDA JLL chooses by the runtime: pin it with [CUDA_Runtime_jll] version in LocalPreferences.toml)"
        for owner, count in report.selectors
        if count == 0
    ]
