"""How the layers are compressed for the image, and the Julia layer in that form.

The image is probed once (per image id, cached) for what it can decompress: the notebook unpacks the
layers in the same image. zstd unpacks in a fraction of gzip's time, and every notebook run pays for
it, so the official Julia tarball is recompressed once (cached beside it) when the image can read zstd.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from juliapack import archive, container
from juliapack.build.work import copy_file
from juliapack.errors import ConfigError, EnvironmentProblem
from juliapack.fsutil import file_stamp, sha256_file, write_json_atomic
from juliapack.julia_dist import JuliaDist
from juliapack.mutex import held
from juliapack.report import Reporter

TRANSCODED = "juliapack-{codec}-v1"  # folder of a recompressed tarball beside the official one
PROBE = r"""
for p in zstd pigz; do command -v $p >/dev/null 2>&1 && echo "have $p"; done
python3 -c 'import zstandard' >/dev/null 2>&1 && echo "have python-zstandard"
python3 -c 'import compression.zstd' >/dev/null 2>&1 && echo "have python-compression.zstd"
if [ -n "${CUDA_VERSION:-}" ]; then echo "cuda $CUDA_VERSION"
elif [ -f /usr/local/cuda/version.json ]; then
  python3 -c 'import json; print("cuda", json.load(open("/usr/local/cuda/version.json"))["cuda"]["version"])' 2>/dev/null
fi
true
"""
PROBE_VERSION = 2  # bump when PROBE changes: cached answers of older probes are not reused


@dataclass(frozen=True)
class JuliaLayer:
    """The Julia layer as shipped: the official tarball, or the same members recompressed for the image."""

    path: Path  # in the cache, inside the release's folder (which the build container mounts)
    sha256: str
    size: int
    codec: str
    decompressor: str


def julia_layer_for(julia: JuliaDist, *, codec: str, decompressor: str, reporter: Reporter) -> JuliaLayer:
    """The official tarball when the layers are gzip; else its members recompressed (once, cached, and
    made again when the cached bytes are no longer the ones recorded)."""
    if codec == "gzip":
        return JuliaLayer(julia.path, julia.release.sha256, julia.release.size, "gzip", decompressor)
    folder = julia.path.parent / TRANSCODED.format(codec=codec)
    target, record = folder / julia.path.name.removesuffix(".tar.gz"), folder / "sha256.json"
    with held(folder.parent / f".{folder.name}.mutex", what=f"the recompressed Julia {julia.version}", reporter=reporter):
        known = _verified(target, record, reporter)
        if known is None:
            reporter.step(f"Recompressing Julia {julia.version} with {codec} (once; unpacking it on Kaggle gets faster)")
            written = archive.transcode(julia.path, target, codec=codec, reporter=reporter)
            known = _record(record, target, sha256=written.sha256, size=written.size)
    return JuliaLayer(target, known["sha256"], known["size"], codec, decompressor)


def _verified(target: Path, record: Path, reporter: Reporter) -> dict | None:
    """The recorded sha256 and size of a cached recompressed tarball whose bytes are still those; None if
    it is missing or damaged. It is hashed again only when its stamp says it may have changed."""
    try:
        known, stamp = json.loads(record.read_text()), file_stamp(target)
        sha256, size = known["sha256"], known["size"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        reporter.warn(f"the record {record} of the cached {target.name} is unreadable; recompressing it again")
        return None
    if known.get("stamp") == stamp:
        return known
    if stamp[0] == size and sha256_file(target) == sha256:
        return _record(record, target, sha256=sha256, size=size)
    reporter.warn(f"the cached {target} is damaged (its sha256 differs from the one recorded); recompressing it again")
    return None


def _record(record: Path, target: Path, *, sha256: str, size: int) -> dict:
    known = {"sha256": sha256, "size": size, "stamp": file_stamp(target)}
    write_json_atomic(record, known)
    return known


def copy_layer(layer: JuliaLayer, target: Path) -> None:
    """The Julia layer copied into dist/ (a copy of its own), its bytes checked against the recorded sha256."""
    if copy_file(layer.path, target) != layer.sha256:
        target.unlink()
        layer.path.unlink(missing_ok=True)  # so the next build downloads or recompresses it again
        raise EnvironmentProblem(
            f"the cached Julia layer {layer.path} does not hold the bytes recorded for it (sha256 differs)",
            fix="run the build again: the damaged cache entry was removed and will be made again",
        )


@dataclass(frozen=True)
class ImageFacts:
    decompressors: frozenset[str]  # what the image can unpack layers with (the notebook runs in it too)
    cuda: str | None  # its CUDA toolkit, MAJOR.MINOR; None: a CPU image


def probe_lines(box: container.Container) -> tuple[str, ...]:
    return box.exec(PROBE, quiet=True).tail


def facts_from(lines: tuple[str, ...]) -> ImageFacts:
    found = frozenset(line.split(" ", 1)[1] for line in lines if line.startswith("have "))
    cuda = next((_major_minor(line.split(" ", 1)[1]) for line in lines if line.startswith("cuda ")), None)
    return ImageFacts(found, cuda)


def _major_minor(version: str) -> str | None:
    parts = version.strip().split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


def probe_decompressors(box: container.Container) -> frozenset[str]:
    """The decompressors the image has (the notebook will run in the same image)."""
    return facts_from(probe_lines(box)).decompressors


def image_facts(client, image: container.ImageInfo, *, cache_dir: Path, reporter: Reporter) -> ImageFacts:
    """What the probe finds in ``image``, asked once per image id and remembered in the cache."""
    cached = cache_dir / "probes" / f"{image.id.replace(':', '-')}.json"
    try:
        known = json.loads(cached.read_text())
        if known.get("probe") == PROBE_VERSION:
            return facts_from(tuple(known["lines"]))
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    with container.running(client, container.ContainerSpec(image.name, network="none", purpose="probe"), reporter=reporter) as box:
        lines = probe_lines(box)
    write_json_atomic(cached, {"probe": PROBE_VERSION, "lines": list(lines)})
    return facts_from(lines)


def choose_codec(codec: str, found: frozenset[str]) -> tuple[str, str]:
    """(codec, decompressor) for the depot and app: zstd when the image can unpack it, else gzip."""
    if codec in ("auto", "zstd"):
        for name in ("zstd", "python-zstandard", "python-compression.zstd"):
            if name in found:
                return "zstd", name
        if codec == "zstd":
            raise ConfigError(
                "the image has no zstd decompressor (no zstd binary, no Python zstandard)",
                fix="use --codec gzip (or auto), or add zstd to the image",
            )
    return "gzip", gzip_decompressor(found)


def gzip_decompressor(found: frozenset[str]) -> str:
    return "pigz" if "pigz" in found else "tar"
