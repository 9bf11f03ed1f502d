#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Times loop structures of an f32 matmul through Kiln's own backend.

Each variant is a memref-level kernel written here (tile loop, k blocks,
rhs pack, row blocks, micro kernels of vector.contract), lowered by
`kiln-cpu-lower-buffers` (the last stage of `kiln-cpu-lower-kernel`:
vector lowering, LLVM dialect, the kernel's C entry point), compiled by LLVM 22 at -O3 for
this CPU and timed by driver.c on one thread. Variants run in turn, one
repeat set per round, so that the drift of a shared machine falls on all
of them alike. This is how bench/NOTES.md compares structures that the
compiler does not generate (yet); a variant that computes a wrong result
fails, except the ablations, which do so on purpose.

  bench/structure/matmul_structure.py --rounds 6 \\
      base= 'tall=--tile-rows 2048 --row-outer --in-place --prefetch-result'

A variant `NAME=config:CONFIG` is instead the compiler's own kernel for
kiln.matmul with `#kiln.cpu_config<CONFIG>`, lowered by
`kiln-cpu-lower-kernel`, to compare configs (register tiles, say) side by
side:

  bench/structure/matmul_structure.py --shape 512x384x1536 --rounds 6 \\
      'w32=config:tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 32, 1], pack_matmul = true, k_block = 128, pack_lhs = true, m_block = 256' \\
      'w48=config:tile_sizes = [0, 0], vector_width = 16, micro_tile = [8, 48, 1], pack_matmul = true, k_block = 128, pack_lhs = true, m_block = 256'

Needs build/bin/kiln-opt, LLVM 22's mlir-translate, opt and llc, and a C
compiler.
"""

import argparse
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LLVM_BIN = Path("/usr/lib/llvm-22/bin")


def structure_parser(name="VARIANT"):
    p = argparse.ArgumentParser(prog=f"variant '{name}'")
    p.add_argument("--tile-rows", type=int, default=256)
    p.add_argument("--tile-cols", type=int, default=256)
    p.add_argument("--k-block", type=int, default=256)
    p.add_argument("--m-block", type=int, default=0,
                   help="rows per lhs block inside a k block (0: the tile's)")
    p.add_argument("--rows", type=int, default=8, help="micro tile rows")
    p.add_argument("--pack-lhs", action="store_true",
                   help="pack each m block's lhs k-major, `rows` interleaved")
    p.add_argument("--in-place", action="store_true",
                   help="accumulate into the result, not a per-tile buffer")
    p.add_argument("--row-outer", action="store_true",
                   help="row groups outside rhs panels (default: inside)")
    p.add_argument("--prefetch-result", action="store_true",
                   help="prefetch the next row group's result rows")
    p.add_argument("--prefetch-next-lhs", action="store_true",
                   help="prefetch the next row group's lhs rows, a share "
                        "per panel")
    p.add_argument("--prefetch-packed-lhs", type=int, default=0,
                   help="prefetch the packed lhs this many k steps ahead")
    p.add_argument("--prefetch-rhs", type=int, default=0,
                   help="prefetch the rhs panel this many k steps ahead")
    p.add_argument("--prefetch-pack", type=int, default=0,
                   help="prefetch the rhs pack's source this many rows ahead")
    p.add_argument("--stale-rhs", action="store_true",
                   help="ablation: skip the rhs pack (stale panels)")
    p.add_argument("--hot-lhs", action="store_true",
                   help="ablation: every row group reads the first rows")
    return p


class Kernel:
    """The memref-level text of one variant, for shape m x k x n."""

    PANEL = 32  # columns per rhs panel: two 16-lane vectors
    pipeline = "--kiln-cpu-lower-buffers"

    def __init__(self, s, m, k, n):
        self.s, self.m, self.k, self.n = s, m, k, n
        self.mb = s.m_block or s.tile_rows
        self.panels = s.tile_cols // self.PANEL
        self.lines, self.depth, self.constants = [], 2, set()
        for knob in ("tile_rows", "tile_cols", "k_block", "rows"):
            if getattr(s, knob) <= 0:
                raise ValueError(f"--{knob.replace('_', '-')} must be positive")
        if s.m_block < 0:
            raise ValueError("--m-block must not be negative")
        for extent, step, what in ((m, s.tile_rows, "tile rows"),
                                   (n, s.tile_cols, "tile columns"),
                                   (k, s.k_block, "k block"),
                                   (s.tile_rows, self.mb, "m block"),
                                   (self.mb, s.rows, "micro tile rows"),
                                   (s.tile_cols, self.PANEL, "panel")):
            if extent % step:
                raise ValueError(f"{what} {step} does not divide {extent}")
        if s.prefetch_result and not s.in_place:
            raise ValueError("--prefetch-result needs --in-place")
        if s.prefetch_next_lhs and (s.pack_lhs or not s.row_outer):
            raise ValueError("--prefetch-next-lhs needs --row-outer and an "
                             "unpacked lhs")
        if s.prefetch_packed_lhs and not s.pack_lhs:
            raise ValueError("--prefetch-packed-lhs needs --pack-lhs")
        if s.hot_lhs and s.pack_lhs:
            raise ValueError("--hot-lhs reads the unpacked lhs")

    @property
    def tiles(self):
        return (self.m // self.s.tile_rows) * (self.n // self.s.tile_cols)

    @property
    def checked(self):
        return not (self.s.stale_rhs or self.s.hot_lhs)

    def lowered(self, text):
        """Nothing to read back: the structure fixes its own tiles."""

    def c(self, value):
        self.constants.add(value)
        return f"%c{value}"

    def emit(self, line):
        self.lines.append("  " * self.depth + line)

    def open(self, line):
        self.emit(line + " {")
        self.depth += 1

    def close(self, count=1):
        for _ in range(count):
            self.depth -= 1
            self.emit("}")

    def types(self):
        s, m, k, n = self.s, self.m, self.k, self.n
        return {
            "A": f"memref<{m}x{k}xf32>", "B": f"memref<{k}x{n}xf32>",
            "C": f"memref<{m}x{n}xf32>",
            "C3": f"memref<{m}x{n // self.PANEL}x{self.PANEL}xf32>",
            "pB": f"memref<{self.panels}x{s.k_block}x{self.PANEL}xf32>",
            "pA": f"memref<{self.mb // s.rows}x{s.k_block}x{s.rows}xf32>",
            "acc": f"memref<{s.tile_rows}x{self.panels}x{self.PANEL}xf32>",
        }

    def text(self):
        self.body()
        t = self.types()
        head = [
            "module {",
            f"  func.func @matmul(%A: {t['A']}, %B: {t['B']}, %C: {t['C']}, "
            "%begin: index, %end: index) attributes {kiln.kernel} {",
        ]
        head += [f"    %c{v} = arith.constant {v} : index"
                 for v in sorted(self.constants)]
        return "\n".join(head + self.lines + ["    return", "  }", "}", ""])

    def body(self):
        s, t = self.s, self.types()
        rows_n = self.m // s.tile_rows
        cols_n = self.n // s.tile_cols
        self.emit("%zero = arith.constant 0.0 : f32")
        self.emit("%zeros = arith.constant dense<0.0> : vector<16xf32>")
        self.emit(f"%pB = memref.alloc() {{alignment = 64 : i64}} : {t['pB']}")
        if s.pack_lhs:
            self.emit(f"%pA = memref.alloc() {{alignment = 64 : i64}} : "
                      f"{t['pA']}")
        if s.in_place:
            self.emit(f"%C3 = memref.expand_shape %C [[0], [1, 2]] "
                      f"output_shape [{self.m}, {self.n // self.PANEL}, "
                      f"{self.PANEL}] : {t['C']} into {t['C3']}")
        else:
            self.emit(f"%acc = memref.alloc() {{alignment = 64 : i64}} : "
                      f"{t['acc']}")
        self.open(f"scf.for %t = %begin to %end step {self.c(1)}")
        self.emit(f"%ti:2 = affine.delinearize_index %t into ({rows_n}, "
                  f"{cols_n}) : index, index")
        self.emit(f"%m0 = arith.muli %ti#0, {self.c(s.tile_rows)} : index")
        self.emit(f"%n0 = arith.muli %ti#1, {self.c(s.tile_cols)} : index")
        self.emit(f"%p0 = arith.divui %n0, {self.c(self.PANEL)} : index")
        self.zero_accumulators()
        self.open(f"scf.for %k0 = {self.c(0)} to {self.c(self.k)} step "
                  f"{self.c(s.k_block)}")
        self.pack_rhs()
        self.open(f"scf.for %mb = {self.c(0)} to {self.c(s.tile_rows)} step "
                  f"{self.c(self.mb)}")
        self.emit("%mrow = arith.addi %m0, %mb : index")
        if s.pack_lhs:
            self.pack_lhs()
        panel_loop = (f"scf.for %j = {self.c(0)} to {self.c(self.panels)} "
                      f"step {self.c(1)}")
        row_loop = (f"scf.for %r = {self.c(0)} to {self.c(self.mb)} step "
                    f"{self.c(s.rows)}")
        for loop in (row_loop, panel_loop) if s.row_outer else (panel_loop,
                                                                 row_loop):
            self.open(loop)
        self.micro_kernel()
        self.close(3)
        self.close()  # k blocks
        if not s.in_place:
            self.unpack_accumulators()
        self.close()  # tiles

    def accumulator(self):
        """The accumulator ref, its indices of one micro tile, its type."""
        if self.s.in_place:
            return "%C3", "%row, %pj", self.types()["C3"]
        return "%acc", "%arow, %j", self.types()["acc"]

    def zero_accumulators(self):
        s, t = self.s, self.types()
        self.open(f"scf.for %i = {self.c(0)} to {self.c(s.tile_rows)} step "
                  f"{self.c(1)}")
        self.open(f"scf.for %j = {self.c(0)} to {self.c(self.panels)} step "
                  f"{self.c(1)}")
        self.open(f"scf.for %l = {self.c(0)} to {self.c(self.PANEL)} step "
                  f"{self.c(16)}")
        if s.in_place:
            self.emit("%zr = arith.addi %m0, %i : index")
            self.emit("%zp = arith.addi %p0, %j : index")
            target = f"%C3[%zr, %zp, %l] {{in_bounds = [true]}} : " \
                     f"vector<16xf32>, {t['C3']}"
        else:
            target = f"%acc[%i, %j, %l] {{in_bounds = [true]}} : " \
                     f"vector<16xf32>, {t['acc']}"
        self.emit(f"vector.transfer_write %zeros, {target}")
        self.close(3)

    def pack_rhs(self):
        s, t = self.s, self.types()
        depth = 1 if s.stale_rhs else s.k_block
        self.open(f"scf.for %k = {self.c(0)} to {self.c(depth)} step "
                  f"{self.c(1)}")
        self.emit("%kk = arith.addi %k0, %k : index")
        self.open(f"scf.for %j = {self.c(0)} to {self.c(self.panels)} step "
                  f"{self.c(1)}")
        self.emit(f"%jj = arith.muli %j, {self.c(self.PANEL)} : index")
        self.emit("%col = arith.addi %n0, %jj : index")
        if s.prefetch_pack:
            self.emit(f"%kp = arith.addi %kk, {self.c(s.prefetch_pack)} : "
                      "index")
            self.emit(f"%col16 = arith.addi %col, {self.c(16)} : index")
            for column in ("%col", "%col16"):
                self.emit(f"memref.prefetch %B[%kp, {column}], read, "
                          f"locality<3>, data : {t['B']}")
        self.emit(f"%v = vector.transfer_read %B[%kk, %col], %zero "
                  f"{{in_bounds = [true]}} : {t['B']}, vector<32xf32>")
        self.emit(f"vector.transfer_write %v, %pB[%j, %k, {self.c(0)}] "
                  f"{{in_bounds = [true]}} : vector<32xf32>, {t['pB']}")
        self.close(2)

    def pack_lhs(self):
        """The m block's lhs as [groups][k][rows]: 16-wide row blocks,
        transposed."""
        s, t = self.s, self.types()
        self.open(f"scf.for %g = {self.c(0)} to {self.c(self.mb // s.rows)} "
                  f"step {self.c(1)}")
        self.emit(f"%gr = arith.muli %g, {self.c(s.rows)} : index")
        self.emit("%grow = arith.addi %mrow, %gr : index")
        self.open(f"scf.for %k = {self.c(0)} to {self.c(s.k_block)} step "
                  f"{self.c(16)}")
        self.emit("%kk = arith.addi %k0, %k : index")
        self.emit(f"%blk = vector.transfer_read %A[%grow, %kk], %zero "
                  f"{{in_bounds = [true, true]}} : {t['A']}, "
                  f"vector<{s.rows}x16xf32>")
        self.emit(f"%tb = vector.transpose %blk, [1, 0] : "
                  f"vector<{s.rows}x16xf32> to vector<16x{s.rows}xf32>")
        self.emit(f"vector.transfer_write %tb, %pA[%g, %k, {self.c(0)}] "
                  f"{{in_bounds = [true, true]}} : vector<16x{s.rows}xf32>, "
                  f"{t['pA']}")
        self.close(2)

    def prefetch_next_row_group(self):
        s, t = self.s, self.types()
        if s.prefetch_result:
            self.emit(f"%nr = arith.addi %row, {self.c(s.rows)} : index")
            for i in range(s.rows):
                self.emit(f"%pr{i} = arith.addi %nr, {self.c(i)} : index")
                for column in (0, 16):
                    self.emit(f"memref.prefetch %C3[%pr{i}, %pj, "
                              f"{self.c(column)}], write, locality<3>, "
                              f"data : {t['C3']}")
        if s.prefetch_next_lhs:
            share = s.k_block // self.panels
            self.emit(f"%na = arith.addi %row, {self.c(s.rows)} : index")
            self.emit(f"%ks = arith.muli %j, {self.c(share)} : index")
            self.emit("%kn = arith.addi %k0, %ks : index")
            for i in range(s.rows):
                self.emit(f"%pa{i} = arith.addi %na, {self.c(i)} : index")
                for offset in range(0, share, 16):
                    self.emit(f"%pk{i}_{offset} = arith.addi %kn, "
                              f"{self.c(offset)} : index")
                    self.emit(f"memref.prefetch %A[%pa{i}, %pk{i}_{offset}], "
                              f"read, locality<3>, data : {t['A']}")

    def micro_kernel(self):
        s, t = self.s, self.types()
        rows, panel = s.rows, self.PANEL
        vacc = f"vector<{rows}x1x{panel}xf32>"
        self.emit("%pj = arith.addi %p0, %j : index")
        self.emit("%row = arith.addi %mrow, %r : index")
        self.emit("%arow = arith.addi %mb, %r : index")
        ref, idx, ty = self.accumulator()
        self.emit(f"%a0 = vector.transfer_read {ref}[{idx}, {self.c(0)}], "
                  f"%zero {{in_bounds = [true, true, true]}} : {ty}, {vacc}")
        self.prefetch_next_row_group()
        self.open(f"%res = scf.for %k = {self.c(0)} to {self.c(s.k_block)} "
                  f"step {self.c(1)} iter_args(%ac = %a0) -> ({vacc})")
        if s.pack_lhs:
            self.emit(f"%g = arith.divui %r, {self.c(rows)} : index")
            if s.prefetch_packed_lhs:
                self.emit(f"%ka = arith.addi %k, "
                          f"{self.c(s.prefetch_packed_lhs)} : index")
                self.emit(f"memref.prefetch %pA[%g, %ka, {self.c(0)}], read, "
                          f"locality<3>, data : {t['pA']}")
            self.emit(f"%lv = vector.transfer_read %pA[%g, %k, {self.c(0)}], "
                      f"%zero {{in_bounds = [true, true], permutation_map = "
                      f"affine_map<(d0, d1, d2) -> (d2, d1)>}} : {t['pA']}, "
                      f"vector<{rows}x1xf32>")
        else:
            self.emit("%kk = arith.addi %k0, %k : index")
            lhs_row = self.c(0) if s.hot_lhs else "%row"
            self.emit(f"%lv = vector.transfer_read %A[{lhs_row}, %kk], %zero "
                      f"{{in_bounds = [true, true]}} : {t['A']}, "
                      f"vector<{rows}x1xf32>")
        if s.prefetch_rhs:
            self.emit(f"%kb = arith.addi %k, {self.c(s.prefetch_rhs)} : index")
            for column in (0, 16):
                self.emit(f"memref.prefetch %pB[%j, %kb, {self.c(column)}], "
                          f"read, locality<3>, data : {t['pB']}")
        self.emit(f"%rv = vector.transfer_read %pB[%j, %k, {self.c(0)}], "
                  f"%zero {{in_bounds = [true, true, true]}} : {t['pB']}, "
                  f"vector<1x1x{panel}xf32>")
        maps = ("affine_map<(d0, d1, d2, d3) -> (d0, d2)>, "
                "affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>, "
                "affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>")
        self.emit(f"%nc = vector.contract {{indexing_maps = [{maps}], "
                  f"iterator_types = [\"parallel\", \"parallel\", "
                  f"\"reduction\", \"parallel\"], kind = #vector.kind<add>}} "
                  f"%lv, %rv, %ac : vector<{rows}x1xf32>, "
                  f"vector<1x1x{panel}xf32> into {vacc}")
        self.emit(f"scf.yield %nc : {vacc}")
        self.close()
        self.emit(f"vector.transfer_write %res, {ref}[{idx}, {self.c(0)}] "
                  f"{{in_bounds = [true, true, true]}} : {vacc}, {ty}")

    def unpack_accumulators(self):
        s, t = self.s, self.types()
        self.open(f"scf.for %i = {self.c(0)} to {self.c(s.tile_rows)} step "
                  f"{self.c(1)}")
        self.emit("%ri = arith.addi %m0, %i : index")
        self.open(f"scf.for %j = {self.c(0)} to {self.c(self.panels)} step "
                  f"{self.c(1)}")
        self.emit(f"%v = vector.transfer_read %acc[%i, %j, {self.c(0)}], "
                  f"%zero {{in_bounds = [true]}} : {t['acc']}, vector<32xf32>")
        self.emit(f"%jj = arith.muli %j, {self.c(self.PANEL)} : index")
        self.emit("%col = arith.addi %n0, %jj : index")
        self.emit(f"vector.transfer_write %v, %C[%ri, %col] "
                  f"{{in_bounds = [true]}} : vector<32xf32>, {t['C']}")
        self.close(2)


class ConfigKernel:
    """kiln.matmul alone with a `kiln.cpu_config`, for shape m x k x n: what
    the compiler generates for that config."""

    pipeline = "--kiln-cpu-lower-kernel"
    checked = True

    def __init__(self, config, m, k, n):
        self.config, self.m, self.k, self.n = config, m, k, n
        self.tiles = None  # the lowered kernel's kiln.tile_count

    def text(self):
        a, b, c = (f"tensor<{self.m}x{self.k}xf32>",
                   f"tensor<{self.k}x{self.n}xf32>",
                   f"tensor<{self.m}x{self.n}xf32>")
        return (f"func.func @matmul(%a: {a}, %b: {b}) -> {c} attributes "
                f"{{kiln.kernel, kiln.cpu_config = "
                f"#kiln.cpu_config<{self.config}>}} {{\n"
                f"  %0 = kiln.matmul %a, %b : ({a}, {b}) -> {c}\n"
                f"  return %0 : {c}\n}}\n")

    def lowered(self, text):
        match = re.search(r"kiln\.tile_count = (\d+)", text)
        if not match:
            raise ValueError("the lowered kernel has no kiln.tile_count")
        self.tiles = int(match.group(1))


def run(command, **kwargs):
    subprocess.run(command, check=True, **kwargs)


def compile_object(kernel, name, work, kiln_opt):
    """Lowers and compiles one variant; returns its object file, whose C
    entry point is `matmul`."""
    source = work / f"{name}.mlir"
    source.write_text(kernel.text())
    lowered = work / f"{name}.llvm.mlir"
    run([str(kiln_opt), kernel.pipeline, str(source), "-o", str(lowered)])
    kernel.lowered(lowered.read_text())
    llvm_ir = work / f"{name}.ll"
    translated = subprocess.run(
        [str(LLVM_BIN / "mlir-translate"), "--allow-unregistered-dialect",
         "--mlir-to-llvmir", str(lowered)],
        check=True, capture_output=True, text=True).stdout
    llvm_ir.write_text('target triple = "x86_64-pc-linux-gnu"\n' + translated)
    run([str(LLVM_BIN / "opt"), "-O3", "-mcpu=native", str(llvm_ir), "-o",
         str(work / f"{name}.bc")])
    obj = work / f"{name}.o"
    run([str(LLVM_BIN / "llc"), "-O3", "-mcpu=native", "-filetype=obj",
         str(work / f"{name}.bc"), "-o", str(obj)])
    return obj


def build(kernel, name, work, kiln_opt):
    """Lowers, compiles and links one variant; returns its executable."""
    obj = compile_object(kernel, name, work, kiln_opt)
    executable = work / name
    run(["cc", "-O2", "-DKERNEL=matmul", str(HERE / "driver.c"), str(obj),
         "-lm", "-o", str(executable)])
    return executable


def add_variant_arguments(parser, default_shape):
    """The arguments that name the shape and the variants, and the kiln-opt
    that lowers them (parse them with parse_shape and parse_variants)."""
    parser.add_argument("--shape", default=default_shape, help="MxKxN")
    parser.add_argument("--kiln-opt", default="build/bin/kiln-opt")
    parser.add_argument("variants", nargs="+", metavar="NAME=OPTIONS",
                        help="structure options of each variant (see "
                             "VARIANT --help) or config:CONFIG; the first "
                             "is the baseline")


def parse_shape(parser, text):
    """The positive (m, k, n) of `text` ("MxKxN"); a usage error otherwise."""
    try:
        m, k, n = (int(v) for v in text.split("x"))
    except ValueError:
        parser.error(f"--shape '{text}' is not MxKxN")
    if min(m, k, n) <= 0:
        parser.error(f"--shape '{text}' has a dimension that is not positive")
    return m, k, n


def parse_variants(parser, specs, m, k, n):
    """The kernels of `specs` ("NAME=OPTIONS" or "NAME=config:CONFIG"), by
    name, in order; a usage error for a bad one."""
    kernels = {}
    for spec in specs:
        name, _, options = spec.partition("=")
        if not name.isidentifier():
            parser.error(f"variant name '{name}' is not an identifier")
        try:
            if options.startswith("config:"):
                kernels[name] = ConfigKernel(options[len("config:"):], m, k, n)
            else:
                kernels[name] = Kernel(
                    structure_parser(name).parse_args(shlex.split(options)),
                    m, k, n)
        except ValueError as error:
            parser.error(f"variant '{name}': {error}")
    return kernels


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_variant_arguments(parser, "2048x2048x2048")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3,
                        help="calls per round; a round keeps the best")
    args = parser.parse_args()
    m, k, n = parse_shape(parser, args.shape)
    if min(args.rounds, args.repeats) <= 0:
        parser.error("--rounds and --repeats must be positive")
    kernels = parse_variants(parser, args.variants, m, k, n)
    rates = {name: [] for name in kernels}
    with tempfile.TemporaryDirectory(prefix="kiln-structure-") as temp:
        work = Path(temp)
        try:
            executables = {name: build(kernel, name, work, args.kiln_opt)
                           for name, kernel in kernels.items()}
        except (OSError, ValueError, subprocess.CalledProcessError) as error:
            sys.exit(f"building the variants failed: {error}")
        for _ in range(args.rounds):
            for name, kernel in kernels.items():
                result = subprocess.run(
                    [str(executables[name]), str(m), str(k), str(n),
                     str(kernel.tiles), str(args.repeats),
                     str(int(kernel.checked))],
                    capture_output=True, text=True)
                if result.returncode != 0:
                    sys.exit(f"variant '{name}': {result.stderr.strip()}")
                rates[name].append(2.0 * m * k * n / float(result.stdout)
                                   / 1e9)
    baseline = statistics.median(next(iter(rates.values())))
    print(f"{args.shape}, 1 thread, {args.rounds} rounds of best of "
          f"{args.repeats}; GFLOP/s")
    print(f"{'variant':<12} {'median':>7} {'max':>7} {'x first':>8}  rounds")
    for name, values in rates.items():
        median = statistics.median(values)
        note = "" if kernels[name].checked else "  (ablation, not checked)"
        print(f"{name:<12} {median:7.1f} {max(values):7.1f} "
              f"{median / baseline:8.2f}  "
              + " ".join(f"{v:.0f}" for v in values) + note)


if __name__ == "__main__":
    main()
