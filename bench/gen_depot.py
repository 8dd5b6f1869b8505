"""Generate a Julia depot that looks like a real one, for the benchmarks: seeded, so every run is the same.

A real depot of a modest deep-learning project (Flux + CUDA + DataFrames, say) after a few updates:

  packages/      450 packages, ~70 source files each (.jl, Project.toml, README.md, test/*.jl), and an
                 older version of 60 of them that the Manifest no longer uses
  artifacts/     60 artifacts of small libraries and data, 4 large shared-library artifacts (~180 MB each,
                 like a CUDA toolkit's), the same 4 of the previous toolkit version, which an update left
                 behind and nothing references any more, and 12 more unreferenced older artifacts
  compiled/v1.10 a cache (.ji + .so) per package, 0.2-4 MB each
  compiled/v1.9  the caches of the previous Julia minor, as large (prunable)
  registries/    General as one tarball, as Julia >= 1.7 keeps it (prunable)
  clones/        git packs of a few packages (prunable)
  logs/, scratchspaces/, environments/

Source text comes from a vocabulary of Julia tokens and generated identifiers (it compresses like code,
~4:1 with gzip). Binaries (artifacts, package images) are made of slices, taken at seeded random offsets,
of the real shared libraries in the test bed's Julia tarball (libLLVM, libjulia, OpenBLAS, ...), so
they compress, and cost gzip and zstd time, as machine code does; the old-style `.ji` caches are half
zeros, as serialized Julia caches largely are.
Also writes report.tsv (what build's artifacts.jl reports: packages and artifacts the Manifest uses),
so `build.depot.depot_filter` can prune it as juliapack does. About 3.6 GB, 34,000 files.

Usage: python bench/gen_depot.py OUT JULIA_TARBALL [--scale 1.0] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
from pathlib import Path

KEYWORDS = (
    "function end return if else elseif for while in begin let struct mutable abstract type module using "
    "import export const local global where do try catch finally macro quote nothing true false"
).split()
SYMBOLS = ["=", "==", "+", "-", "*", "/", "(", ")", "[", "]", "{", "}", ",", "::", ".", "->", "|>", "<:", "@inbounds", "@views"]
GENERATOR_VERSION = 4


class Generator:
    def __init__(self, seed: int, scale: float, pool: bytes) -> None:
        self.rng = random.Random(seed)
        self.scale = scale
        self.pool = pool  # real machine code to cut binaries from
        self.words = [self._identifier() for _ in range(4000)] + KEYWORDS * 40

    def _identifier(self) -> str:
        length = self.rng.randint(3, 14)
        name = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(length))
        return name.capitalize() if self.rng.random() < 0.2 else name

    def source(self, size: int) -> bytes:
        lines, total = [], 0
        while total < size:
            indent = "    " * self.rng.randint(0, 3)
            tokens = self.rng.choices(self.words, k=self.rng.randint(2, 9))
            line = indent + " ".join(t if self.rng.random() < 0.8 else self.rng.choice(SYMBOLS) for t in tokens)
            lines.append(line)
            total += len(line) + 1
        return ("\n".join(lines) + "\n").encode()

    def binary(self, size: int, *, zero_fraction: float = 0.0) -> bytes:
        chunks, total = [], 0
        while total < size:
            length = self.rng.randint(4096, 65536)
            if self.rng.random() < zero_fraction:
                chunks.append(bytes(length))
            else:
                start = self.rng.randrange(0, len(self.pool) - length)
                chunks.append(self.pool[start : start + length])
            total += length
        return b"".join(chunks)[:size]

    def n(self, count: int) -> int:
        return max(1, round(count * self.scale))


def write(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def tree_hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def code_pool(julia_tarball: Path) -> bytes:
    """The shared libraries of a Julia tarball, concatenated: real machine code to cut binaries from."""
    from juliapack import archive

    pieces = [reader.read() for info, reader in archive.iter_members(julia_tarball) if reader and ".so" in info.name and info.size > 1 << 20]
    if not pieces:
        raise SystemExit(f"{julia_tarball} holds no shared libraries to sample")
    return b"".join(pieces)


def generate(out: Path, *, julia_tarball: Path, seed: int = 1, scale: float = 1.0) -> dict:
    gen = Generator(seed, scale, code_pool(julia_tarball))
    depot = out / "depot"
    report = []
    sizes: dict[str, int] = {}

    def add(category: str, path: Path, data: bytes) -> None:
        sizes[category] = sizes.get(category, 0) + write(path, data)

    names = sorted({gen._identifier().capitalize() + "s" for _ in range(gen.n(450) * 2)})[: gen.n(450)]
    for index, name in enumerate(names):
        uuid = hashlib.md5(name.encode()).hexdigest()
        uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        slug = tree_hash(name)[:5]
        folder = depot / "packages" / name / slug
        report.append(f"package\t{name}\t{uuid}\t/root/.julia/packages/{name}/{slug}")
        for file_index in range(gen.rng.randint(40, 100)):
            sub = "test" if file_index % 5 == 0 else "src"
            add("packages", folder / sub / f"{gen._identifier()}_{file_index}.jl", gen.source(gen.rng.randint(1_000, 14_000)))
        add("packages", folder / "Project.toml", f'name = "{name}"\nuuid = "{uuid}"\nversion = "1.{index}.0"\n'.encode())
        add("packages", folder / "README.md", gen.source(3_000))
        if index % 5 == 0:  # an older version the Manifest no longer uses
            add("old package versions", depot / "packages" / name / tree_hash(name + "old")[:5] / "src" / f"{name}.jl", gen.source(60_000))
        cache = depot / "compiled" / "v1.10" / name
        add("compiled", cache / f"{slug}_abcde.ji", gen.binary(gen.rng.randint(100_000, 1_500_000), zero_fraction=0.5))
        if index % 3 == 0:
            add("compiled", cache / f"{slug}_abcde.so", gen.binary(gen.rng.randint(300_000, 4_000_000)))
        add("old compiled", depot / "compiled" / "v1.9" / name / f"{slug}_12345.ji", gen.binary(gen.rng.randint(100_000, 1_500_000), zero_fraction=0.5))
        if index % 3 == 0:
            add("old compiled", depot / "compiled" / "v1.9" / name / f"{slug}_12345.so", gen.binary(gen.rng.randint(300_000, 4_000_000)))
        if index % 10 == 0:
            add("scratch", depot / "scratchspaces" / uuid / "state.toml", gen.source(500))

    for index in range(gen.n(60)):
        hash_ = tree_hash(f"artifact{index}")
        report.append(f"artifact\t{hash_}\t{names[index % len(names)]}")
        for file_index in range(gen.rng.randint(3, 12)):
            add("artifacts", depot / "artifacts" / hash_ / "lib" / f"lib{gen._identifier()}_{file_index}.so", gen.binary(gen.rng.randint(10_000, 900_000)))
        add("artifacts", depot / "artifacts" / hash_ / "share" / "licenses" / "LICENSE", gen.source(2_000))
    for index in range(gen.n(4)):
        hash_ = tree_hash(f"big{index}")
        report.append(f"artifact\t{hash_}\t{names[index]}")
        add("large artifacts", depot / "artifacts" / hash_ / "lib" / f"libcudalike{index}.so", gen.binary(gen.n(180_000_000)))
    for index in range(gen.n(4)):  # the previous toolkit's, left behind by an update
        add("unused artifacts", depot / "artifacts" / tree_hash(f"bigold{index}") / "lib" / f"libcudalike{index}.so", gen.binary(gen.n(180_000_000)))
    for index in range(gen.n(12)):
        add("unused artifacts", depot / "artifacts" / tree_hash(f"old{index}") / "lib" / "libold.so", gen.binary(gen.n(40_000_000)))

    add("registries", depot / "registries" / "General.tar.gz", gen.rng.randbytes(gen.n(30_000_000)))
    add("registries", depot / "registries" / "General.toml", b'git-tree-sha1 = "0"\npath = "General.tar.gz"\n')
    for index in range(gen.n(6)):
        add("clones", depot / "clones" / str(index) / "objects" / "pack" / "pack-1.pack", gen.rng.randbytes(gen.n(12_000_000)))
    add("logs", depot / "logs" / "manifest_usage.toml", gen.source(20_000))
    add("environments", depot / "environments" / "v1.10" / "Project.toml", b"[deps]\n")

    (out / "report.tsv").write_text("\n".join(sorted(report)) + "\n")
    summary = {"generator": GENERATOR_VERSION, "seed": seed, "scale": scale, "source": julia_tarball.name, "bytes": sizes, "total": sum(sizes.values())}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def ensure(out: Path, *, julia_tarball: Path, seed: int = 1, scale: float = 1.0) -> dict:
    """The generated depot in ``out``, made only if missing or made with other parameters."""
    marker = out / "summary.json"
    if marker.is_file():
        summary = json.loads(marker.read_text())
        if (summary["generator"], summary["seed"], summary["scale"], summary.get("source")) == (GENERATOR_VERSION, seed, scale, julia_tarball.name):
            return summary
    shutil.rmtree(out, ignore_errors=True)
    return generate(out, julia_tarball=julia_tarball, seed=seed, scale=scale)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("julia_tarball", type=Path, help="the test bed's Julia tarball (real machine code to sample)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(ensure(args.out, julia_tarball=args.julia_tarball, seed=args.seed, scale=args.scale), indent=1))
