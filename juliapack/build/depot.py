"""What of the build's depot and app folder reaches the layers: the pruning rules, and the compiled
caches the rehearsal later checks were not rebuilt.

The build container reports (templates/build/artifacts.jl) each package's source folder, its
extensions and every artifact any of them references; everything else in the depot is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from juliapack import archive, secret_scan
from juliapack.build.plan import DEPOT
from juliapack.build.work import WorkDirs
from juliapack.fsutil import sha256_file
from juliapack.workflow.lock import APP_DEPOT


@dataclass(frozen=True)
class DepotReport:
    """What the build container found: package source folders and every artifact hash referenced."""

    package_dirs: frozenset[str]  # depot-relative, e.g. packages/TinyModel/AbCdE
    package_names: frozenset[str]
    package_uuids: frozenset[str]
    artifacts: frozenset[str]
    extensions: frozenset[str] = frozenset()  # Julia 1.9+ caches these under compiled/vX.Y/<ExtName>/

    @classmethod
    def read(cls, path: Path) -> DepotReport:
        dirs, names, uuids, hashes, extensions = set(), set(), set(), set(), set()
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, *fields = line.split("\t")
            if kind == "package":
                name, uuid, source = fields
                names.add(name)
                uuids.add(uuid)
                if source.startswith(DEPOT + "/"):
                    dirs.add(source[len(DEPOT) + 1 :])
            elif kind == "extension":
                extensions.add(fields[0])
            elif kind == "artifact":
                hashes.add(fields[0])
            elif kind == "scratchspace":  # the project's own, or one a package asked to keep
                uuids.add(fields[0])
        return cls(frozenset(dirs), frozenset(names), frozenset(uuids), frozenset(hashes), frozenset(extensions))


def depot_filter(report: DepotReport, *, compiled: str, project_name: str, keep_registries: bool) -> archive.Filter:
    """What leaves the depot layer, with the reason reported to the user."""
    used_package_parents = {PurePosixPath(d).parent.as_posix() for d in report.package_dirs}
    cached = report.package_names | report.extensions

    def drop(relpath: str, is_dir: bool) -> str | None:
        parts = relpath.split("/")
        top = parts[0]
        if top == "logs":
            return "logs"
        if top == "clones":
            return "git clones"
        if top == "registries" and not keep_registries:
            return "registries (not needed to load packages)"
        if top == "registries" and len(parts) == 3 and parts[2] == ".git":
            # Pkg reads a registry's files; offline it never fetches. The history is most of a git clone
            # of General (hundreds of MB) and its logs and index differ on every clone.
            return "registry git history"
        if top == "compiled" and len(parts) >= 2 and parts[1] != compiled:
            return "caches of other Julia versions"
        if top == "compiled" and len(parts) == 3 and (parts[2] == project_name or parts[2] not in cached):
            return "caches of packages not in the Manifest"
        if top == "packages" and len(parts) == 2 and relpath not in used_package_parents:
            return "packages not in the Manifest"
        if top == "packages" and len(parts) == 3 and relpath not in report.package_dirs:
            return "packages not in the Manifest"
        if top == "artifacts" and len(parts) == 2 and is_dir and parts[1] not in report.artifacts:
            return "artifacts no package references"
        if top == "scratchspaces" and len(parts) == 2 and parts[1] not in report.package_uuids:
            return "scratch spaces of packages not in the Manifest"
        return None

    return drop


IN_COMPILED_LAYER = "compiled caches (in the compiled layer)"


def split_compiled(drop: archive.Filter) -> tuple[archive.Filter, archive.Filter]:
    """``drop`` for the depot layer, which leaves compiled/ out, and for the compiled layer, walked from
    compiled/. Package sources and artifacts are byte-identical across fresh builds; compiled caches are
    not (build ids, serialization order), so only the compiled layer moves when a fresh build re-uploads."""

    def depot(relpath: str, is_dir: bool) -> str | None:
        return IN_COMPILED_LAYER if relpath.split("/", 1)[0] == "compiled" else drop(relpath, is_dir)

    def compiled(relpath: str, is_dir: bool) -> str | None:
        return drop(f"compiled/{relpath}", is_dir)

    return depot, compiled


def app_filter(*, compiled: str) -> archive.Filter:
    """The app folder holds the project's files plus its own compiled cache; nothing else of that depot."""

    def drop(relpath: str, is_dir: bool) -> str | None:
        parts = relpath.split("/")
        if parts[0] != APP_DEPOT:
            return None
        if len(parts) >= 2 and parts[1] != "compiled":
            return "logs"
        if len(parts) >= 3 and parts[2] != compiled:
            return "caches of other Julia versions"
        return None

    return drop


def refuse_secrets_in_depot(collected: archive.Collected, *, allow: secret_scan.Allowlist) -> None:
    """The depot is judged by the same rule upload applies to the packed layer (`secret_scan`)."""
    findings = secret_scan.scan_entries(collected.entries, role="depot")
    secret_scan.raise_if_found(allow.filter(findings), where="the depot", allow=secret_scan.ALLOW_OPTION)


def compiled_caches(work: WorkDirs, project_name: str, compiled: str) -> dict[str, str]:
    """depot-relative path -> sha256 of every compiled cache shipped (verify checks none is rebuilt)."""
    caches = {}
    for base, label in ((work.depot, ""), (work.app_parent / project_name / APP_DEPOT, f"{APP_DEPOT}/")):
        folder = base / "compiled" / compiled
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    caches[label + path.relative_to(base).as_posix()] = sha256_file(path)
    return caches
