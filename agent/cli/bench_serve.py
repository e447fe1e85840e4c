"""``facelens bench serve``: latency, throughput, errors and lost writes of a real local server under a
bounded load; with ``--hostile``, what unauthenticated slow, huge and malformed requests cost it. The
logic is in :mod:`facelens.agent.service.bench` and :mod:`facelens.agent.service.bench_hostile`."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.tools.errors import InputError

HELP_ORDER = 30
BENCH_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests", type=int, default=200, help="analyze requests (default 200), each a different photo")
    p.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    p.add_argument(
        "--enrolments", type=int, default=10, help="people enrolled alongside, one request each (default 10)"
    )
    p.add_argument("--workers", type=int, default=None, help="server workers (default FACELENS_SERVE_WORKERS or 2)")
    p.add_argument(
        "--hostile",
        action="store_true",
        help="instead: unauthenticated slow, huge and malformed requests "
        "alongside one authenticated client; passes when the server stays under 1 GB and answers that client",
    )
    p.add_argument("--seconds", type=float, default=30.0, help="how long the hostile load runs (default 30)")
    add_json_flag(p)


@BENCH_COMMANDS.command("serve", _arguments)
def _cmd(args: argparse.Namespace) -> int:
    """load a real local `facelens serve`: p50/p95, throughput, errors, lost writes"""
    from facelens.agent.cli.serve import need_serve_extra

    if args.requests < 1 or args.threads < 1 or args.enrolments < 0:
        raise InputError("--requests and --threads must be at least 1, --enrolments at least 0.")
    need_serve_extra()
    if args.hostile:
        return _hostile(args)
    from facelens.agent.service import bench

    out = bench.run(args.requests, args.threads, args.enrolments, args.workers)
    if args.json:
        print_json(out)
    else:
        lat = out["latency_ms"]
        print(
            f"{out['requests']} analyze requests from {out['threads']} threads ({out['server_workers']} server workers), "
            f"{out['enrolments']} enrolments alongside: p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
            f"{out['throughput_rps']:.2f} req/s, errors {out['errors']}, enrol errors {out['enrol_errors']}, lost writes {out['lost_writes']} "
            f"({out['wall_s']:.0f} s)"
        )
    return 0 if out["errors"] == 0 and out["enrol_errors"] == 0 and out["lost_writes"] == 0 else 1


def _hostile(args: argparse.Namespace) -> int:
    from facelens.agent.service import bench_hostile

    if not 1 <= args.seconds <= 600:
        raise InputError("--seconds must be between 1 and 600.")
    out = bench_hostile.run(args.seconds)
    if args.json:
        print_json(out.to_dict())
    else:
        print(
            f"{out.seconds:.0f} s of hostile load: {out.slow_connections} slow heads, {out.huge_heads} huge heads (at most "
            f"{out.huge_head_bytes_max / 1e3:.0f} kB sent before the close), {out.huge_bodies} unauthenticated huge uploads ({out.unauthenticated_answered_401} "
            f"answered 401, at most {out.huge_body_bytes_max / 1e6:.1f} MB sent), {out.malformed} malformed "
            f"({out.malformed_answered_4xx} refused); server memory {out.start_rss_mb:.0f} -> peak {out.peak_rss_mb:.0f} MB, "
            f"{out.spooled_bytes / 1e6:.1f} MB spooled; authenticated analyses {out.keyed_ok}/{out.keyed_sent} answered, "
            f"p95 {out.keyed_p95_ms:.0f} ms: {'PASS' if out.passed else 'FAIL'}"
        )
    return 0 if out.passed else 1
