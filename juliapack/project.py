"""The user's Julia project: Project.toml, its Manifest, the entry point and the files of the app layer."""

from __future__ import annotations

import errno
import os
import posixpath
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, TypeVar

from juliapack import compat, secret_scan
from juliapack.errors import ProjectError
from juliapack.ignore import IGNORE_FILE, IgnoreRules
from juliapack.julia_version import JuliaVersion, parse_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_FILES = ("JuliaProject.toml", "Project.toml")
MANIFEST_FILES = ("JuliaManifest.toml", "Manifest.toml")
T = TypeVar("T")


@dataclass(frozen=True)
class Package:
    name: str
    uuid: str
    version: str | None
    tree_hash: str | None  # git-tree-sha1; None for stdlibs and path-tracked packages
    path: str | None  # set for `Pkg.develop`ed packages
    deps: tuple[str, ...]


@dataclass(frozen=True)
class JuliaProject:
    root: Path
    name: str  # Project.toml's name, else the folder's
    uuid: str | None  # set when the project is itself a package
    deps: dict[str, str]  # name -> uuid
    project_file: Path
    manifest_file: Path
    manifest_julia_version: JuliaVersion | None  # format 2 manifests record it; format 1 (Julia <= 1.6) does not
    packages: tuple[Package, ...]
    declared: frozenset[str] = frozenset()  # every name in [deps], [weakdeps] and [extras]: whose preferences apply
    preferences: dict[str, Any] = field(default_factory=dict)  # Project.toml's [preferences]
    compat: dict[str, str] = field(default_factory=dict)  # Project.toml's [compat]
    manifest_format: int = 1  # 2 from Julia 1.7 (read from 1.6); format 1 has no manifest_format key

    @property
    def is_package(self) -> bool:
        return self.uuid is not None and (self.root / "src" / f"{self.name}.jl").is_file()

    def package_uuids(self) -> set[str]:
        return {package.uuid for package in self.packages}


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path} is not valid TOML: {error}", fix="fix the line it names (or regenerate it with Pkg)") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read {path}: {error}", fix="check the file and its permissions") from error


def _first_existing(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / name for name in names if (root / name).is_file()), None)


def manifest_path(root: Path, julia_version: JuliaVersion | None = None) -> Path | None:
    """The manifest Pkg would use, in Base.manifest_names' order: ``JuliaManifest-vX.Y.toml`` and
    ``Manifest-vX.Y.toml`` for that Julia (1.10.8+), then JuliaManifest.toml and Manifest.toml."""
    series = f"v{julia_version.major}.{julia_version.minor}" if julia_version else None
    versioned_names = (f"JuliaManifest-{series}.toml", f"Manifest-{series}.toml") if series else ()
    found = _first_existing(root, (*versioned_names, *MANIFEST_FILES))
    if found is None:
        versioned = sorted(root.glob("Manifest-v*.toml"))
        found = versioned[-1] if len(versioned) == 1 else _workspace_manifest(root)
    return found


def _workspace_manifest(root: Path) -> Path | None:
    """The Manifest of a [workspace] (Julia 1.12+) that lists this project: it sits at the workspace root."""
    here = root.resolve()
    for parent in here.parents:
        project_file = _first_existing(parent, PROJECT_FILES)
        if project_file is None:
            continue
        members = (_load(project_file).get("workspace") or {}).get("projects") or []
        if any((parent / str(member)).resolve() == here for member in members):
            return _first_existing(parent, MANIFEST_FILES)
    return None


def staged_from_outside(project: JuliaProject) -> dict[str, Path]:
    """Files the app layer carries from outside the project: a workspace member's Manifest, as Manifest.toml
    (the app unpacks alone, without its workspace root, so Julia must find the Manifest beside it)."""
    inside = project.manifest_file.resolve().parent == project.root.resolve()
    return {} if inside else {"Manifest.toml": project.manifest_file}


def staged_manifest_name(project: JuliaProject) -> str:
    """The Manifest's name in the app layer: the one Julia must read there."""
    return "Manifest.toml" if staged_from_outside(project) else project.manifest_file.name


def project_name(root: Path | None) -> str | None:
    """The name a build of ``root`` carries (Project.toml's name, else the folder's); None without a project."""
    if root is None:
        return None
    project_file = _first_existing(root, PROJECT_FILES)
    if project_file is None:
        raise ProjectError(f"{root} is not a Julia project (no Project.toml)", fix="set project in juliapack.toml to the folder that holds Project.toml")
    return str(_load(project_file).get("name") or root.name)


def read_project(root: Path, *, julia_version: JuliaVersion | None = None) -> JuliaProject:
    if not root.is_dir():
        raise ProjectError(f"project directory {root} does not exist", fix="pass the folder that holds Project.toml")
    project_file = _readable(root, root, lambda: _first_existing(root, PROJECT_FILES))
    if project_file is None:
        raise ProjectError(f"{root} is not a Julia project (no Project.toml)", fix="pass the folder that holds Project.toml")
    project = _load(project_file)
    manifest_file = manifest_path(root, julia_version)
    if manifest_file is None:
        raise ProjectError(
            f"{root} has no Manifest.toml",
            fix="run `julia --project=. -e 'using Pkg; Pkg.instantiate()'` (or Pkg.resolve()) and commit the Manifest",
        )
    manifest = _load(manifest_file)
    deps = project.get("deps", {})
    if not isinstance(deps, dict):
        raise ProjectError(f"{project_file}: [deps] is not a table", fix="fix Project.toml (or regenerate it with Pkg)")
    result = JuliaProject(
        root=root,
        name=str(project.get("name") or root.name),
        uuid=project.get("uuid"),
        deps={str(k): str(v) for k, v in deps.items()},
        project_file=project_file,
        manifest_file=manifest_file,
        manifest_julia_version=_recorded_version(manifest, manifest_file),
        packages=tuple(_packages(manifest, manifest_file)),
        declared=frozenset(name for table in ("deps", "weakdeps", "extras") for name in (project.get(table) or {})),
        preferences=dict(project.get("preferences") or {}),
        compat={str(k): v for k, v in (project.get("compat") or {}).items() if isinstance(v, str)},
        manifest_format=2 if "manifest_format" in manifest or "julia_version" in manifest else 1,
    )
    check_manifest_current(result)
    return result


def _recorded_version(manifest: dict[str, Any], path: Path) -> JuliaVersion | None:
    text = manifest.get("julia_version")
    if text is None:
        return None
    version = parse_version(text) if isinstance(text, str) else None
    if version is None or not version.is_exact:
        raise ProjectError(f"{path}: julia_version {text!r} is not a Julia version", fix="regenerate the Manifest with Pkg.resolve()")
    return version


def _packages(manifest: dict[str, Any], path: Path):
    if "manifest_format" in manifest or "julia_version" in manifest:
        table = manifest.get("deps", {})
        if not isinstance(table, dict):
            raise ProjectError(f"{path}: [deps] is not a table", fix="regenerate the Manifest with Pkg.resolve()")
    else:
        table = manifest  # format 1: every top-level array of tables is a package
    for name, entries in sorted(table.items()):
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or "uuid" not in entry:
                raise ProjectError(f"{path}: entry {name} has no uuid", fix="regenerate the Manifest with Pkg.resolve()")
            deps = entry.get("deps", [])
            yield Package(
                name=name,
                uuid=entry["uuid"],
                version=entry.get("version"),
                tree_hash=entry.get("git-tree-sha1"),
                path=entry.get("path"),
                deps=tuple(deps) if isinstance(deps, list) else tuple(deps.keys()),
            )


def check_manifest_current(project: JuliaProject) -> None:
    """Every dependency of Project.toml, and every dependency of those, must be in the Manifest."""
    by_name = {package.name: package for package in project.packages}
    fix = "run `julia --project=. -e 'using Pkg; Pkg.resolve()'` and commit the updated Manifest"
    for name, uuid in sorted(project.deps.items()):
        package = by_name.get(name)
        if package is None or package.uuid != uuid:
            raise ProjectError(f"{project.manifest_file.name} is out of date: {name} from Project.toml is missing", fix=fix)
    for package in project.packages:
        missing = [dep for dep in package.deps if dep not in by_name]
        if missing:
            raise ProjectError(
                f"{project.manifest_file.name} is out of date: {package.name} depends on {', '.join(missing)}, which it lacks",
                fix=fix,
            )
    for package in project.packages:
        if package.path and (Path(package.path).is_absolute() or not (project.root / package.path).resolve().is_relative_to(project.root.resolve())):
            raise ProjectError(
                f"{package.name} is developed from {package.path}, outside the project",
                fix="move it inside the project folder (and `Pkg.develop(path=\"./...\")` it) or add it from a registry",
            )


def check_manifest_julia(project: JuliaProject, julia: JuliaVersion) -> None:
    """The Julia chosen can read the Manifest: Pkg meets a newer one only inside the container, as a MethodError."""
    name, recorded = project.manifest_file.name, project.manifest_julia_version
    if project.manifest_format >= 2 and julia.series < (1, 6):
        raise ProjectError(
            f"{name} is in format 2 (written by Julia {recorded or '1.7+'}), which Julia {julia} cannot read (it needs 1.6 or newer)",
            fix=f"build with julia = \"{_series(recorded) or '1.6'}\" (--julia or juliapack.toml), or regenerate the Manifest with Julia {julia}",
        )
    if recorded is not None and recorded.series > julia.series:
        raise ProjectError(
            f"{name} was written by Julia {recorded}, newer than the Julia {julia} chosen for the build",
            fix=f"build with julia = \"{_series(recorded)}\" (--julia or juliapack.toml), or regenerate the Manifest with Julia {julia}",
        )


def compat_warnings(project: JuliaProject, julia: JuliaVersion) -> list[str]:
    """The Manifest's versions (and the Julia chosen) that Project.toml's [compat] excludes."""
    versions = {package.name: package.version for package in project.packages if package.version}
    if julia.is_exact:
        versions["julia"] = julia.text
    warnings = []
    for name, spec in sorted(project.compat.items()):
        if name in versions and compat.allows(spec, versions[name]) is False:
            julia_entry = name == "julia"
            what = f"the build's Julia is {versions[name]}" if julia_entry else f"{project.manifest_file.name} has {name} {versions[name]}"
            then = "choose a Julia it allows" if julia_entry else "Pkg.resolve() would change it"
            warnings.append(f"{what}, which [compat] {name} = \"{spec}\" in {project.project_file.name} excludes; {then}")
    return warnings


def _series(version: JuliaVersion | None) -> str | None:
    return None if version is None else f"{version.major}.{version.minor}"


def entry_point(project: JuliaProject, entry: str | None) -> str:
    """The script the notebook runs, relative to the project: --entry, else src/<Name>.jl."""
    relative = entry or f"src/{project.name}.jl"
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ProjectError(f"entry point {relative} is not inside the project", fix="give a path relative to the project folder")
    if not (project.root / relative).is_file():
        raise ProjectError(f"entry point {relative} does not exist in {project.root}", fix="pass --entry path/to/script.jl (relative to the project)")
    return Path(relative).as_posix()


# --------------------------------------------------------------------------- the app layer's files


@dataclass(frozen=True)
class AppFiles:
    files: tuple[str, ...]  # posix paths relative to the project root, sorted
    ignored: int
    links: dict[str, str] = field(default_factory=dict)  # relpath -> relative target: links that stay links


def app_files(
    project: JuliaProject, *, exclude: tuple[str, ...] = (), also_ignore: tuple[str, ...] = (), allow: secret_scan.Allowlist | None = None
) -> AppFiles:
    """The project's files that go into the app layer; refuses secrets that are neither excluded nor allowed,
    and links that leave the project or loop."""
    rules = _readable(project.root, project.root / IGNORE_FILE, lambda: IgnoreRules.for_project(project.root, extra=(*also_ignore, *exclude)))
    kept: list[str] = []
    links: dict[str, str] = {}
    counts = {"ignored": 0}
    findings = []
    for relpath, path in _kept_files(project.root, project.root, rules, counts):
        link = _kept_link(project.root, relpath, path)
        if link is None:
            finding = _readable(project.root, path, partial(_scan, relpath, path))
        else:  # a link ships its name only: its target is judged where it lies
            finding = secret_scan.scan(relpath, partial(open, path, "rb"), 0, secret_scan.OWN)
        if finding:
            findings.append(finding)
        if link is None:
            kept.append(relpath)
        else:
            links[relpath] = link
    secret_scan.raise_if_found(
        allow.filter(findings) if allow else findings,
        where=f"the project {project.root}",
        allow=secret_scan.ALLOW_OPTION,
    )
    return AppFiles(tuple(sorted(kept)), counts["ignored"], dict(sorted(links.items())))


def _scan(relpath: str, path: Path) -> secret_scan.Finding | None:
    """Every kept file is opened here, empty ones too: one juliapack cannot read would break the build later."""
    with open(path, "rb") as stream:
        return secret_scan.scan(relpath, lambda: stream, os.fstat(stream.fileno()).st_size, secret_scan.OWN)


def _readable(root: Path, path: Path, read: Callable[[], T]) -> T:
    """``read()``, with an OSError on the way turned into one line naming ``path``: the file, or the folder
    whose entries could not be listed or looked at."""
    try:
        return read()
    except OSError as error:
        shown = f"{path.relative_to(root).as_posix()} in the project {root}" if path.is_relative_to(root) and path != root else str(path)
        mode = "u+rx" if _is_folder(path) else "u+r"
        raise ProjectError(
            f"cannot read {shown}: {error.strerror or error}",
            fix=f"make it readable (chmod {mode} '{path}')" + ("" if path == root or path.name == IGNORE_FILE else f" or list it in {IGNORE_FILE}"),
        ) from error


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _kept_files(root: Path, folder: Path, rules: IgnoreRules, counts: dict[str, int]):
    for path in _readable(root, folder, lambda: sorted(folder.iterdir())):
        relpath = path.relative_to(root).as_posix()
        is_dir = _readable(root, folder, path.is_dir)
        if rules.ignored(relpath, is_dir):
            counts["ignored"] += 1
        elif path.is_symlink():
            yield from _judged_link(root, relpath, path, counts)
        elif is_dir:
            yield from _kept_files(root, path, rules, counts)
        elif _readable(root, folder, path.is_file):
            yield relpath, path
        else:  # sockets, fifos: nothing that could be packed
            counts["ignored"] += 1


def _judged_link(root: Path, relpath: str, path: Path, counts: dict[str, int]):
    """A link is never followed: one that stays inside the project is kept as a link, one that leaves it
    or loops is refused, a dangling one inside is left out."""
    target = Path(os.path.realpath(path))
    inside = root.resolve()
    if not target.is_relative_to(inside):
        raise ProjectError(
            f"{relpath} links to {target}, outside the project",
            fix="copy what it points to into the project (or make it a relative link inside it), or list it in .juliapackignore",
        )
    try:
        path.stat()
    except OSError as error:
        if error.errno != errno.ELOOP:
            counts["ignored"] += 1  # dangling: nothing that could be packed
            return
        target = None
    if target is None or (path.is_dir() and (inside / relpath).parent.is_relative_to(target)):
        raise ProjectError(
            f"{relpath} links to {os.readlink(path)}, a loop (it leads back to a folder that holds it)",
            fix="remove the link, or list it in .juliapackignore",
        )
    yield relpath, path


def _kept_link(root: Path, relpath: str, path: Path) -> str | None:
    """What a kept link points to, as a relative link inside the project (None: not a link)."""
    if not path.is_symlink():
        return None
    text = os.readlink(path)
    folder = posixpath.dirname(relpath) or "."
    landed = posixpath.normpath(posixpath.join(folder, text))
    stays = not posixpath.isabs(text) and landed != ".." and not landed.startswith("../")
    return text if stays else os.path.relpath(os.path.realpath(path), (root.resolve() / relpath).parent)
