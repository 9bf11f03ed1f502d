#!/usr/bin/env python3
"""Renders `kiln bench --json` reports into BENCHMARKS.md and PNG plots.

Usage:
  render_benchmarks.py --output BENCHMARKS.md --plots DIR --command CMD
                       [--notes NOTES.md] [--peers PEERS.json] REPORT.json...

Each report (schema bench/SCHEMA.md) becomes a section: its machine and
roofline, the matmuls beside their peers (each Kiln figure as a ratio to the
faster peer of the same run), the other kernels against the roofline, the
models' latency. The model peers report (schema kiln-bench-peers, from
bench/peers/run_peers.py) adds a table per zoo model of Kiln beside ONNX
Runtime, PyTorch eager and torch.compile with each peer's latency as a ratio
to Kiln's. The plots show the roofline fraction per kernel, the model
latency of every report and the models against their peers. Only the
standard library and matplotlib.
"""

import argparse
import json
import os
import statistics
import sys

SCHEMA_VERSION = 1
PEERS_SCHEMA_VERSION = 1

# The model peers in the order of their columns, with their headings.
MODEL_PEERS = (("onnxruntime", "ONNX Runtime"), ("torch-eager", "PyTorch eager"),
               ("torch-compile", "torch.compile"))


def load(path, schema="kiln-bench", version=SCHEMA_VERSION):
    with open(path) as f:
        report = json.load(f)
    if report.get("schema") != schema or report.get("schema_version") != version:
        sys.exit(f"{path}: not a {schema} report of schema version {version}")
    return report


def fmt_seconds(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.3f} ms"
    return f"{s:.3f} s"


def noisy(b):
    return "" if b["stable"] else " (noisy)"


def title(report):
    return f"{report['machine']['threads']} thread(s)"


def machine_lines(report):
    m = report["machine"]
    return [
        f"- CPU: `{m['cpu']}`, Kiln target fingerprint `{m['fingerprint']}`",
        f"- measured roofline with {m['threads']} thread(s): f32 FMA peak "
        f"{m['peak_gflops']:.1f} GFLOP/s, STREAM {m['stream_gbps']:.1f} GB/s",
        f"- Kiln {report['compiler_version']}, run {report['date']}, "
        f"instruction counts: {report['counts']}",
    ]


def matmul_table(report):
    rows = [b for b in report["benchmarks"] if b["kernel"] == "matmul"]
    shapes = list(dict.fromkeys(b["shape"] for b in rows))
    peers = list(dict.fromkeys(b["implementation"] for b in rows if b["implementation"] != "kiln"))
    if not shapes:
        return []
    head = ["shape (MxKxN)", "kiln GFLOP/s"] + [f"{p} GFLOP/s" for p in peers]
    head += ["kiln / best peer", "kiln roofline", "kiln instructions"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "--:|" * (len(head) - 1)]
    for shape in shapes:
        by_impl = {b["implementation"]: b for b in rows if b["shape"] == shape}
        kiln = by_impl.get("kiln")
        if kiln is None:
            continue
        cells = [shape, f"{kiln['gflops']:.1f}{noisy(kiln)}"]
        rates = []
        for p in peers:
            b = by_impl.get(p)
            cells.append(f"{b['gflops']:.1f}{noisy(b)}" if b else "-")
            if b:
                rates.append(b["gflops"])
        cells.append(f"{kiln['gflops'] / max(rates):.2f}" if rates else "-")
        cells.append(f"{kiln['roofline_fraction']:.2f}")
        cells.append(str(kiln["instructions"]) if kiln["instructions"] is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def kernel_table(report):
    rows = [b for b in report["benchmarks"]
            if b["suite"] == "kernels" and b["kernel"] != "matmul"]
    if not rows:
        return []
    lines = ["| kernel | shape | median | GB/s | GFLOP/s | roofline | instructions |",
             "|---|---|--:|--:|--:|--:|--:|"]
    for b in rows:
        count = str(b["instructions"]) if b["instructions"] is not None else "-"
        lines.append(f"| {b['kernel']} | {b['shape']} | {fmt_seconds(b['median'])}{noisy(b)} "
                     f"| {b['gbps']:.1f} | {b['gflops']:.1f} | {b['roofline_fraction']:.2f} | {count} |")
    return lines


def fmt_bytes(count):
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def model_table(report):
    rows = [b for b in report["benchmarks"] if b["suite"] == "models"]
    if not rows:
        return []
    lines = ["| model | latency (median) | spread (IQR) | GFLOP/s | roofline | kernel calls "
             "| per block | memory plan peak / sum of buffers | instructions |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for b in rows:
        count = str(b["instructions"]) if b["instructions"] is not None else "-"
        facts = b.get("model") or {}
        per_block = facts.get("kernels_per_block")
        plan = "-"
        if facts.get("unplanned_bytes"):
            plan = (f"{fmt_bytes(facts['arena_bytes'])} / {fmt_bytes(facts['unplanned_bytes'])} "
                    f"({facts['arena_bytes'] / facts['unplanned_bytes']:.0%})")
        lines.append(f"| {b['kernel']} | {fmt_seconds(b['median'])}{noisy(b)} | {b['iqr'] * 100:.1f}% "
                     f"| {b['gflops']:.2f} | {b['roofline_fraction']:.2f} "
                     f"| {facts.get('kernel_calls', '-')} "
                     f"| {f'{per_block:.1f}' if per_block is not None else '-'} | {plan} | {count} |")
    return lines


def peer_tables(peers):
    """A table per zoo model: one row per size and thread count, Kiln's
    latency beside each peer's and the peer's latency over Kiln's."""
    by_name = {b["name"]: b for b in peers["benchmarks"]}
    lines = []
    for model in dict.fromkeys(case["model"] for case in peers["cases"]):
        head = ["size", "threads", "Kiln"] + [title for _, title in MODEL_PEERS]
        head += [f"{title} / Kiln" for _, title in MODEL_PEERS]
        lines += [f"### {model}", "", "| " + " | ".join(head) + " |",
                  "|---|--:|" + "--:|" * (len(head) - 2)]
        for case in peers["cases"]:
            if case["model"] != model:
                continue
            for threads in peers["machine"]["threads"]:
                row = f"{model}/{case['shape']}/{{}}/threads-{threads}"
                kiln = by_name.get(row.format("kiln"))
                if kiln is None:
                    continue
                cells = [f"`{case['shape']}`", str(threads),
                         fmt_seconds(kiln["median"]) + noisy(kiln)]
                ratios = []
                for implementation, _ in MODEL_PEERS:
                    b = by_name.get(row.format(implementation))
                    cells.append(fmt_seconds(b["median"]) + noisy(b) if b else "-")
                    ratios.append(f"{b['median'] / kiln['median']:.2f}" if b else "-")
                lines.append("| " + " | ".join(cells + ratios) + " |")
        lines.append("")
    return lines


def peers_plot(plt, peers, path):
    """Model latency of Kiln and each peer, a panel per thread count, on a
    log scale (the models span microseconds to tens of milliseconds)."""
    cases = [(case["model"], case["shape"]) for case in peers["cases"]]
    threads_list = peers["machine"]["threads"]
    implementations = [("kiln", "Kiln")] + list(MODEL_PEERS)
    by_name = {b["name"]: b["median"] for b in peers["benchmarks"]}
    fig, axes = plt.subplots(1, len(threads_list), sharey=True, squeeze=False,
                             figsize=(6 * len(threads_list), 0.5 * len(cases) + 1.5))
    height = 0.8 / len(implementations)
    for ax, threads in zip(axes[0], threads_list):
        for i, (implementation, label) in enumerate(implementations):
            ys = [j + i * height for j in range(len(cases))]
            xs = [by_name.get(f"{m}/{s}/{implementation}/threads-{threads}", 0) * 1e3
                  for m, s in cases]
            ax.barh(ys, xs, height=height, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, median, log scale)")
        ax.set_title(f"{threads} thread(s)")
    axes[0][0].set_yticks([j + 0.4 - height / 2 for j in range(len(cases))])
    axes[0][0].set_yticklabels([f"{m} {s}" for m, s in cases], fontsize=7)
    axes[0][0].invert_yaxis()
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Zoo models: Kiln against ONNX Runtime and PyTorch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def bar_plot(plt, reports, suite, value, size, xlabel, title_text, path):
    """One horizontal bar group per benchmark of `suite`, a bar per report,
    of value(benchmark); writes `path` and returns it, or None when the
    suite has no benchmarks."""
    names = []
    for r in reports:
        for b in r["benchmarks"]:
            if b["suite"] == suite and b["name"] not in names:
                names.append(b["name"])
    if not names:
        return None
    width, per_row = size
    fig, ax = plt.subplots(figsize=(width, per_row * len(names) + 1.5))
    height = 0.8 / len(reports)
    for i, r in enumerate(reports):
        by_name = {b["name"]: value(b) for b in r["benchmarks"]}
        ys = [j + i * height for j in range(len(names))]
        ax.barh(ys, [by_name.get(n, 0) for n in names], height=height, label=title(r))
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))])
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title_text)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot(reports, peers, plots):
    """Writes roofline.png, models.png and, with `peers`, models-peers.png;
    returns their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plots, exist_ok=True)
    paths = [
        bar_plot(plt, reports, "kernels", lambda b: b["roofline_fraction"], (10, 0.32),
                 "fraction of the measured roofline",
                 "Kernels: roofline fraction (Kiln and peers)",
                 os.path.join(plots, "roofline.png")),
        bar_plot(plt, reports, "models", lambda b: b["median"] * 1e3, (8, 0.45),
                 "latency (ms, median)", "Zoo models end to end",
                 os.path.join(plots, "models.png")),
    ]
    if peers:
        paths.append(peers_plot(plt, peers, os.path.join(plots, "models-peers.png")))
    return [path for path in paths if path]


def fraction_of_peak(result, peak_gflops, threads):
    """`result`'s share of the FMA peak its run measured, on one thread."""
    if int(threads) != 1:
        return "-"
    return f"{result['gflops'] / peak_gflops:.0%} of {peak_gflops:.0f}"


def study_definition(study):
    """How the trials-to-within study chose and used its candidates: the
    stratified sub-space of bench/tuning_bench.py, or the evenly spaced one
    of reports written before it."""
    figure = ("the smallest trial budget (the default's trial included) whose best is "
              "within the tolerance of theirs. Goal: at most 32.")
    if "model_top_fraction" not in study:
        return (f"Up to {study['max_candidates']} legal candidates of each kernel measured "
                f"once on {study['threads']} thread (all of a smaller space; of a larger one "
                "an evenly spaced sub-space in enumeration order, plus the default), then "
                "the budgeted search replayed on those measurements: " + figure)
    return (f"Up to {study['max_candidates']} legal candidates of each kernel "
            f"({study['max_candidates_large']} for the 2048³ matmul, whose candidates take "
            f"seconds each) measured once on {study['threads']} thread: all of a smaller "
            "space; of a larger one a sub-space that spans it, the cost model's best-ranked "
            f"{study['model_top_fraction']:.0%} and a stratified sample of the rest in which "
            "every value of every knob, and every pair of values of two knobs, comes up "
            "about equally often, plus the search's seeds (the default, and for a matmul "
            "with m blocks GotoBLAS's blocking: one tall tile per thread). The budgeted "
            "search is then replayed on those measurements; the figure is " + figure)


def tuned_matmul_rows(threads, runs):
    """The tuned matmul table's rows for one thread count: `runs` holds one
    `kiln bench` report per process; each figure is the median over them."""
    by_shape = {}
    for run in runs:
        for b in run["benchmarks"]:
            by_shape.setdefault(b["shape"], {}).setdefault(
                b["implementation"], []).append(b)
    rows = []
    for shape, impls in by_shape.items():
        kiln = impls.get("kiln")
        if not kiln:
            continue

        def figure(name):
            if name not in impls:
                return "-"
            results = impls[name]
            unstable = sum(not b["stable"] for b in results) * 2 > len(results)
            return (f"{statistics.median(b['gflops'] for b in results):.1f}"
                    f"{' (noisy)' if unstable else ''}")

        peers = [p for p in ("openblas", "onednn") if p in impls]
        ratios = [k["gflops"] / max(impls[p][i]["gflops"] for p in peers)
                  for i, k in enumerate(kiln)] if peers else []
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "-"
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
        median_kiln = {"gflops": statistics.median(k["gflops"] for k in kiln)}
        peak = statistics.median(run["machine"]["peak_gflops"] for run in runs)
        rows.append(f"| {shape} | {threads} | {figure('kiln')} | "
                    f"{figure('openblas')} | {figure('onednn')} | {ratio} | "
                    f"{spread} | {fraction_of_peak(median_kiln, peak, threads)} |")
    return rows


def tuning_lines(path):
    """The tuning benchmark's section (bench/tuning_bench.py's JSON)."""
    with open(path) as f:
        t = json.load(f)
    if t.get("schema") != "kiln-tuning-bench" or t.get("schema_version") not in (1, 2):
        sys.exit(f"{path}: not a kiln tuning benchmark of schema version 1 or 2")
    # Version 1 kept one bench report per thread count, version 2 a list of
    # them, one per process.
    t["matmul"] = {threads: runs if isinstance(runs, list) else [runs]
                   for threads, runs in t["matmul"].items()}
    study = t["study"]
    machine = next(iter(t["matmul"].values()))[0]["machine"]
    lines = ["## Tuning", "",
             f"`{t['command']}` (run {t['date']}, {t['wall_seconds'] / 60:.1f} min), "
             "each part from an empty tuning database, on "
             f"`{machine['cpu']}` (`{machine['fingerprint']}`; 1-thread FMA peak "
             f"{machine['peak_gflops']:.1f} GFLOP/s). Where that is not the machine "
             "above, the two parts ran in different sessions: compare ratios within "
             "a part, not figures across them.", "",
             f"### Trials to within {study['tolerance']:.0%} of the best",
             "",
             study_definition(study), "",
             "| kernel | legal | measured | failed | default | best | trials to within | "
             f"search, budget {study['budget']} |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in study["kernels"]:
        if not k["subspace"]:
            measured = f"{k['measured']} (all)"
        elif "model_top" in k:
            measured = (f"{k['measured']} ({k['model_top']} model + "
                        f"{k['stratified']} stratified)")
        else:
            measured = f"{k['measured']} (sub-space)"
        default = fmt_seconds(k["default_seconds"]) if k["default_seconds"] > 0 else "failed"
        lines.append(f"| {k['benchmark']} | {k['legal_candidates']} | {measured} | "
                     f"{k['failed']} | {default} | {fmt_seconds(k['best_seconds'])} | "
                     f"{k['trials_to_within']} | {fmt_seconds(k['search_seconds'])} |")
    processes = len(next(iter(t["matmul"].values())))
    lines += ["", "### Tuned f32 matmul against OpenBLAS and oneDNN", "",
              "`kiln tune` at its budget, then `kiln bench --db` with the tuned configs "
              f"in {processes} process(es); GFLOP/s, Kiln and its peers sampled in turns. "
              "The same code runs a steady few percent faster or slower in one process "
              "than in another, so each figure is the median over the processes of "
              "each process's median, the ratio the median of each process's ratio, "
              "and the range that ratio's lowest and highest. The fraction of "
              "the FMA peak is given for one thread "
              "only: on a machine whose hardware threads may share a core (a VM's vCPUs "
              "placed by its hypervisor) the all-thread peak measured in one run can be "
              "anything from one core's to all cores', so it is no fixed yardstick.", "",
              "| shape | threads | Kiln tuned | OpenBLAS | oneDNN | tuned / faster peer "
              "| range | of FMA peak |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for threads, runs in sorted(t["matmul"].items()):
        lines += tuned_matmul_rows(threads, runs)
    lines += ["", "### Tuned against default per kernel (zoo models)", "",
              "`kiln tune --model NAME --json`, all hardware threads; roofline: the "
              "roofline's bound over the tuned time.", ""]
    for model in t["models"]:
        lines += [f"**{model['model']}** ({len(model['kernels'])} kernels, "
                  f"{model['threads']} threads, tuned in {model['wall_seconds']:.0f} s)", "",
                  "| kernel | default | tuned | speedup | trials | roofline |",
                  "|---|---:|---:|---:|---:|---:|"]
        for k in model["kernels"]:
            if k["error"]:
                lines.append(f"| {k['kernel']} | - | failed: {k['error']} | - | "
                             f"{k['trials']} | - |")
                continue
            known = k["default_seconds"] > 0
            speedup = f"{k['default_seconds'] / k['tuned_seconds']:.2f}x" if known else "-"
            roof = (f"{k['roofline_seconds'] / k['tuned_seconds']:.0%}"
                    if k["roofline_seconds"] > 0 else "-")
            lines.append(f"| {k['kernel']} | "
                         f"{fmt_seconds(k['default_seconds']) if known else '-'} | "
                         f"{fmt_seconds(k['tuned_seconds'])} | {speedup} | {k['trials']} | "
                         f"{roof} |")
        lines.append("")
    cached = t.get("tiny_multimodal_cached")
    first = next((m for m in t["models"] if m["model"] == "tiny-multimodal"), None)
    if first and cached:
        lines += ["### Tuning wall time, tiny-multimodal", "",
                  "| database | kiln tune wall time | process |", "|---|---:|---:|",
                  f"| empty (goal: under 5 min) | {first['wall_seconds']:.1f} s | "
                  f"{first['process_seconds']:.1f} s |",
                  f"| everything cached | {cached['wall_seconds']:.1f} s | "
                  f"{cached['process_seconds']:.1f} s |", ""]
    return lines


def peers_section(peers):
    """The models beside ONNX Runtime and PyTorch: how they were run, the
    versions, a table per model."""
    versions = peers["versions"]
    lines = [
        "## Models against ONNX Runtime and PyTorch", "",
        "The zoo models written in PyTorch (bench/peers/torch_zoo.py) on Kiln's",
        "own weights (`kiln export`) and inputs: PyTorch eager, torch.compile",
        "(inductor, compiled for each thread count) and ONNX Runtime (the same",
        "module through `torch.onnx.export`, intra-op threads = the thread",
        "count). Every peer's outputs are checked against Kiln's reference",
        "evaluator with the whole-model f32 tolerance before it is timed. All",
        "four are timed the same way: a call from Python on ready inputs,",
        "sampled by autotune/Measure's rule (bench/peers/measure.py); Kiln runs",
        "its compiled module (default kernel configs) through the `kiln`",
        "package, so its figures here include the microseconds of a Python",
        "call that the C++ loop of the tables above leaves out.",
        "",
        "**Ratios are peer latency / Kiln latency: above 1, Kiln is faster.**",
        "",
        f"- run {peers['date']}, Kiln {peers['compiler_version']}, "
        f"PyTorch {versions['torch']}, ONNX Runtime {versions['onnxruntime']}, "
        f"Python {versions['python']}",
        "",
    ]
    return lines + peer_tables(peers)


def ceiling_lines(path):
    """The register-tile ceiling (bench/ceiling/register_tile.c) as printed."""
    with open(path) as f:
        text = f.read().strip()
    return ["### The matmul's ceiling on this machine", "",
            "`bench/ceiling/register_tile.c`, run by `scripts/bench.sh` in the same "
            "session: Kiln's register-tile micro kernel with both operands in L1, "
            "against FMA chains on registers alone. A whole matmul also packs, moves "
            "its blocks through the caches and writes its result, so it stays below "
            "this rate.", "", "```", text, "```", ""]


def render(reports, command, notes, plot_paths, output, peers=None, tuning=None,
           ceiling=None):
    out_dir = os.path.dirname(os.path.abspath(output))
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench.sh (bench/render_benchmarks.py); do not edit. -->",
        "",
        "Kiln's kernels with their default configs and the zoo models with their",
        "default knobs, compiled for the host and timed by `kiln bench`, next to",
        "OpenBLAS (`cblas_sgemm`, pthreads) and oneDNN (`dnnl_sgemm`, OpenMP) in",
        "the same run, side by side: a kernel and its peers take their samples in",
        "turns, and each call of a kernel (Kiln's or a peer's) meets its inputs",
        "cold: they are evicted from the caches before it, untimed, as a model's",
        "kernel meets its weights. Every result is checked before it is timed;",
        "each median is sampled until its spread is within 3% or its budget runs",
        "out, \"(noisy)\" marking one that did not settle. The roofline (FMA peak,",
        "best STREAM kernel) is measured in the same run. Schema and verdicts:",
        "bench/SCHEMA.md.",
        "",
        "## Command",
        "",
        "```sh",
        command,
        "```",
        "",
        "The JSON reports are kept in `bench/results/`; compare two of them with",
        "`kiln bench compare BASE.json NEW.json`.",
        "",
        "## Machine",
        "",
    ]
    lines += machine_lines(reports[0])
    for report in reports:
        lines += ["", f"## Results, {title(report)}", ""]
        lines += [f"Roofline: FMA {report['machine']['peak_gflops']:.1f} GFLOP/s, "
                  f"STREAM {report['machine']['stream_gbps']:.1f} GB/s.", ""]
        for heading, table in (("Matmul (f32)", matmul_table(report)),
                               ("Other kernels (f32)", kernel_table(report)),
                               ("Models", model_table(report))):
            if table:
                lines += [f"### {heading}", ""] + table + [""]
    if peers:
        lines += peers_section(peers)
    if tuning:
        lines += tuning_lines(tuning)
    if ceiling:
        lines += ceiling_lines(ceiling)
    if plot_paths:
        lines += ["## Plots", ""]
        for path in plot_paths:
            rel = os.path.relpath(path, out_dir)
            lines += [f"![{os.path.basename(path)}]({rel})", ""]
    lines += ["## Not measured yet", ""]
    if not peers:
        lines += ["ONNX Runtime and PyTorch (eager, torch.compile) peers for the models",
                  "(bench/peers; scripts/setup.sh installs them in build/peers-venv).", ""]
    lines += ["The GPU peers (cuBLAS, SDPA) are not part of this run yet.", ""]
    if notes and os.path.exists(notes):
        with open(notes) as f:
            lines += ["## Notes", "", f.read().strip(), ""]
    with open(output, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--output", required=True)
    parser.add_argument("--plots", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--notes")
    parser.add_argument("--peers", help="the model peers report (bench/peers/run_peers.py)")
    parser.add_argument("--tuning", help="bench/tuning_bench.py's JSON")
    parser.add_argument("--ceiling", help="bench/ceiling/register_tile.c's output")
    args = parser.parse_args()
    reports = [load(path) for path in args.reports]
    peers = load(args.peers, "kiln-bench-peers", PEERS_SCHEMA_VERSION) if args.peers else None
    render(reports, args.command, args.notes, plot(reports, peers, args.plots), args.output,
           peers, args.tuning, args.ceiling)


if __name__ == "__main__":
    main()
