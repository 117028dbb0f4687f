"""`make sif`'s squashing: gzip (apptainer's default) against zstd at level 3, on one image.

Saves IMAGE once, then builds a SIF from the archive with each `SIF_SQUASHFS` in turn,
`--repeat` times, alternating the order so a busy machine slows both alike. The build runs as
`make sif` runs it where the host has no apptainer: in the tier's trixie container
(`generator.image.apptainer_image`, built first if missing). Prints each compression's median
seconds, its SIF's size, zstd over gzip, and the load average at the start and the end.

Usage: python benchmarks/sif.py IMAGE [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import load, progress

from generator.image.apptainer_image import ensure_apptainer_image
from generator.process import run
from generator.tools import require

# mksquashfs's options for each: zstd's own default level (15) is slower than gzip.
COMPRESSIONS = {"gzip": "-comp gzip", "zstd": "-comp zstd -Xcompression-level 3"}


def build_seconds(tag: str, folder: Path, compression: str) -> tuple[float, int]:
    """Seconds to squash ``folder/image.tar`` into a SIF with ``compression``, and the SIF's bytes."""
    sif = folder / f"{compression}.sif"
    command = [
        require("docker"), "run", "--rm", "--network", "none", "--volume", f"{folder}:{folder}", tag,
        "apptainer", "build", "--force", "--mksquashfs-args", COMPRESSIONS[compression],
        sif, f"docker-archive://{folder}/image.tar",
    ]  # fmt: skip
    start = time.perf_counter()
    run(command, timeout=1800)
    return time.perf_counter() - start, sif.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="a built project image, e.g. my-model:dev")
    parser.add_argument("--repeat", type=int, default=3, help="builds per compression (default 3)")
    args = parser.parse_args()
    start_load = load()
    tag = ensure_apptainer_image(progress=progress)
    with tempfile.TemporaryDirectory(prefix="dsdeploy-sif-", dir="/var/tmp") as scratch:
        folder = Path(scratch)
        progress(f"docker save {args.image}")
        run([require("docker"), "save", "-o", folder / "image.tar", args.image], timeout=600)
        seconds: dict[str, list[float]] = {name: [] for name in COMPRESSIONS}
        sizes: dict[str, int] = {}
        for round_ in range(args.repeat):
            order = list(COMPRESSIONS) if round_ % 2 == 0 else list(COMPRESSIONS)[::-1]
            for compression in order:
                took, sizes[compression] = build_seconds(tag, folder, compression)
                seconds[compression].append(took)
                progress(f"round {round_ + 1}: {compression} {took:.1f} s")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"compression  median s  SIF MB   ({args.repeat} builds each, interleaved)")
    for name in COMPRESSIONS:
        print(f"{name:<11}  {medians[name]:8.1f}  {sizes[name] / 1e6:6.1f}")
    print(
        f"zstd-3/gzip: time {medians['zstd'] / medians['gzip']:.2f}, "
        f"size {sizes['zstd'] / sizes['gzip']:.2f}; load {start_load} at the start, {load()} at the end"
    )


if __name__ == "__main__":
    main()
