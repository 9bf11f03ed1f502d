#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Times matmul variants against each other, paired call by call.

On a shared machine (a VM) the speed drifts by a few percent between runs,
and separate runs of two variants cannot tell 1% apart. Here every variant
(the structures and configs of matmul_structure.py, and oneDNN's sgemm with
--onednn) is linked into one executable, paired_driver.c, whose repeats
call each variant once in turn; a variant's ratio to the first variant is
taken within each repeat, and its median is the verdict. Inputs (and the
result) can be flushed from the caches before each call, by operand, or
all caches filled with other data first (--cold caches), and each
variant timed under several such modes in the same repeats, to see which
cold operand costs a variant its time:

  bench/structure/paired.py --shape 512x384x1536 --threads 2 --cold none,lhs,rhs,inputs \\
      --onednn 'tuned=config:tile_sizes = [0, 768], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 128, pack_lhs = true, m_block = 256'

Needs what matmul_structure.py needs, OpenMP, and for --onednn oneDNN's
headers and library.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import matmul_structure

HERE = Path(__file__).resolve().parent

# Which buffers --cold flushes before each call (paired_driver.c's mask).
COLD_MASKS = {"none": 0, "lhs": 1, "rhs": 2, "inputs": 3, "all": 7,
              "caches": 15}


def link(objects, work, onednn):
    """Links the variant objects (each renamed VARIANT_i) with the driver;
    returns the executable."""
    renamed = []
    for index, obj in enumerate(objects):
        target = work / f"variant_{index}.o"
        matmul_structure.run(["objcopy",
                              f"--redefine-sym=matmul=VARIANT_{index}",
                              str(obj), str(target)])
        renamed.append(str(target))
    variants = "".join(f"X({index})" for index in range(len(objects)))
    defines = [f"-DKILN_VARIANTS(X)={variants}"]
    libraries = ["-lm"]
    if onednn:
        defines.append("-DONEDNN")
        libraries.append("-ldnnl")
    executable = work / "paired"
    matmul_structure.run(["cc", "-O2", "-fopenmp", *defines,
                          str(HERE / "paired_driver.c"), *renamed,
                          *libraries, "-o", str(executable)])
    return executable


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    matmul_structure.add_variant_arguments(parser, "512x384x1536")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300,
                        help="calls of each variant")
    parser.add_argument("--cold", default="inputs",
                        help="what is flushed from the caches before each "
                             "call, one of " + ", ".join(COLD_MASKS) +
                             "; several, comma-separated, time each variant "
                             "under each")
    parser.add_argument("--onednn", action="store_true",
                        help="add oneDNN's sgemm as the last variant")
    args = parser.parse_args()
    m, k, n = matmul_structure.parse_shape(parser, args.shape)
    if min(args.threads, args.repeats) <= 0:
        parser.error("--threads and --repeats must be positive")
    colds = args.cold.split(",")
    for cold in colds:
        if cold not in COLD_MASKS:
            parser.error(f"--cold '{cold}' is not one of "
                         + ", ".join(COLD_MASKS))
    if len(set(colds)) != len(colds):
        parser.error(f"--cold '{args.cold}' names a mode twice")
    kernels = matmul_structure.parse_variants(parser, args.variants, m, k, n)
    for name, kernel in kernels.items():
        if not kernel.checked:
            parser.error(f"variant '{name}' is an ablation: its result is "
                         "wrong on purpose, and every paired variant is "
                         "checked")
    with tempfile.TemporaryDirectory(prefix="kiln-paired-") as temp:
        work = Path(temp)
        try:
            objects = [matmul_structure.compile_object(kernel, name, work,
                                                       args.kiln_opt)
                       for name, kernel in kernels.items()]
            executable = link(objects, work, args.onednn)
        except (OSError, ValueError, subprocess.CalledProcessError) as error:
            sys.exit(f"building the variants failed: {error}")
        tiles = [kernel.tiles for kernel in kernels.values()]
        if args.onednn:
            tiles.append(1)
        result = subprocess.run(
            [str(executable), str(m), str(k), str(n), str(args.threads),
             str(args.repeats), ",".join(str(COLD_MASKS[c]) for c in colds),
             *(str(t) for t in tiles)],
            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"the paired run failed: {result.stderr.strip()}")
    names = list(kernels) + (["onednn"] if args.onednn else [])
    print(f"{args.shape}, {args.threads} thread(s), {args.repeats} paired "
          f"repeats; ratio to '{names[0]}' (cold {colds[0]}) per repeat")
    print(f"{'variant':<12} {'cold':<7} {'median ms':>9} {'GFLOP/s':>8} "
          f"{'ratio':>7} {'q1':>7} {'q3':>7}")
    runs = [(name, cold) for name in names for cold in colds]
    for (name, cold), line in zip(runs, result.stdout.splitlines()):
        _, _, seconds, ratio, q1, q3 = line.split()
        seconds = float(seconds)
        print(f"{name:<12} {cold:<7} {seconds * 1e3:9.4f} "
              f"{2.0 * m * k * n / seconds / 1e9:8.1f} {ratio:>7} {q1:>7} "
              f"{q3:>7}")

if __name__ == "__main__":
    main()
