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
from juliapack.errors import ConfigError
from juliapack.fsutil import write_json_atomic
from juliapack.julia_dist import JuliaDist
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
    """The official tarball when the layers are gzip; else its members recompressed (once, cached)."""
    if codec == "gzip":
        return JuliaLayer(julia.path, julia.release.sha256, julia.release.size, "gzip", decompressor)
    folder = julia.path.parent / TRANSCODED.format(codec=codec)
    target, stamp = folder / julia.path.name.removesuffix(".tar.gz"), folder / "sha256.json"
    if stamp.is_file() and target.is_file():
        known = json.loads(stamp.read_text())
        if known["size"] == target.stat().st_size:
            return JuliaLayer(target, known["sha256"], known["size"], codec, decompressor)
    reporter.step(f"Recompressing Julia {julia.version} with {codec} (once; unpacking it on Kaggle gets faster)")
    written = archive.transcode(julia.path, target, codec=codec, reporter=reporter)
    write_json_atomic(stamp, {"sha256": written.sha256, "size": written.size})
    return JuliaLayer(target, written.sha256, written.size, codec, decompressor)


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
