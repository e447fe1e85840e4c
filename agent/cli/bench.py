"""``facelens bench ...``: speed and memory benchmarks (commands, not timed unit tests).

Other modules of this package add benchmarks by declaring ``BENCH_COMMANDS = CommandTable()`` (see
:class:`facelens.agent.cli.CommandTable`) and ``HELP_ORDER`` (their place in ``facelens bench --help``); they
are found without a list to edit.
"""

from __future__ import annotations

import argparse
import importlib
import logging

from facelens.agent.cli import CommandTable, add_commands, command_group, emit, plugin_modules, print_json
from facelens.agent.cli.options import add_detector_option, add_json_flag
from facelens.eval.bench_photo import bench_analyze, bench_identity

HELP_ORDER = 60
COMMANDS = ("bench",)  # register() adds it: the group of the benchmarks below and of the other modules'

log = logging.getLogger(__name__)

BENCH_MODULES: list[str] = plugin_modules("BENCH_COMMANDS")
#: this module's benchmarks, listed first in ``facelens bench --help``
PHOTO_BENCHMARKS = CommandTable()


def _analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument(
        "--embedder", choices=["sface", "onnx", "dlib"], default=None,
        help="the face embedder (default: the configured one; sface changes only identity, onnx/dlib are dlib's network's runtimes)",
    )  # fmt: skip
    p.add_argument(
        "--no-baseline", action="store_true", help="skip face_recognition's detect + encode, timed beside each run"
    )
    add_json_flag(p)
    add_detector_option(p)


@PHOTO_BENCHMARKS.command("analyze", _analyze_arguments)
def cmd_analyze(args: argparse.Namespace) -> int:
    """per-stage latency of the photo analysis (warm)"""
    from facelens.tools import settings

    with settings.given(embedder=args.embedder):  # --embedder for this run only, not written into os.environ
        res = bench_analyze(args.image, args.repeat, args.detector, baseline=not args.no_baseline)
    if args.json:
        print_json(res)
    else:
        print(
            f"{res['image']} ({res['width']}x{res['height']}, {res['faces']} faces, {res['detector']}, embedder {res['embedder']}), warm, n={args.repeat}"
        )
        for k, v in res["stages_ms"].items():
            print(f"  {k:14s} median {v['median']:8.1f} ms   p95 {v['p95']:8.1f} ms")
        if "face_recognition_ms" in res:
            fr = res["face_recognition_ms"]
            print(
                f"  face_recognition's detect + encode, same run: median {fr['median']:.1f} ms ({fr['faces']} faces); "
                f"facelens total / face_recognition = {res['ratio_to_face_recognition']:.2f}"
            )
    return 0


def _search_figures(store: dict) -> str:
    """ "p50 ... ms, p95 ... ms, recall@1 ..." of one store's figures in bench_identity's result."""
    return f"p50 {store['query_ms']['p50']:.3f} ms, p95 {store['query_ms']['p95']:.3f} ms, recall@1 {store['recall_at_1']:.3f}"


def _identity_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument(
        "--store",
        choices=["faiss", "milvus"],
        default="faiss",
        help="milvus: measure Milvus too (a temporary Milvus Lite file, or FACELENS_MILVUS_URI's server), beside FAISS",
    )
    add_json_flag(p)


@PHOTO_BENCHMARKS.command("identity", _identity_arguments)
def cmd_identity(args: argparse.Namespace) -> int:
    """gallery search latency and recall at scale (synthetic vectors)"""
    return emit(args, bench_identity(args.size, args.queries, store=args.store), _print_identity)


def _print_identity(res) -> None:
    print(
        f"{res['size']:,} identities, {res['index']}: {_search_figures(res)}, {res['bytes_per_identity']:.0f} B/identity, "
        f"brute force {res['brute_force_ms']['p50']:.1f} ms ({res['speedup_vs_brute_force']}x)"
    )
    if "milvus" in res:
        m = res["milvus"]
        print(
            f"{res['size']:,} identities, {m['store']} ({m['index']}): {_search_figures(m)}, insert {m['insert_s']:.1f} s"
        )


def register(sub: argparse._SubParsersAction) -> None:
    bsub = command_group(sub, "bench", "speed benchmarks", metavar="WHAT")
    add_commands(bsub, PHOTO_BENCHMARKS)
    for name in BENCH_MODULES:
        try:
            mod = importlib.import_module(f"facelens.agent.cli.{name}")
        except ImportError as exc:
            log.debug("bench module %s unavailable: %s", name, exc)
            continue
        add_commands(bsub, mod.BENCH_COMMANDS)
