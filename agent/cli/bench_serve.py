"""``facelens bench serve``: latency, throughput, errors and lost writes of a real local server under a
bounded load. The logic is in :mod:`facelens.agent.service.bench`."""

from __future__ import annotations

import argparse

from facelens.agent.cli import print_json
from facelens.tools.errors import InputError


def _cmd(args: argparse.Namespace) -> int:
    from facelens.agent.cli.serve import _need_serve_extra

    if args.requests < 1 or args.threads < 1 or args.enrolments < 0:
        raise InputError("--requests and --threads must be at least 1, --enrolments at least 0.")
    _need_serve_extra()
    from facelens.agent.service import bench

    out = bench.run(args.requests, args.threads, args.enrolments, args.workers)
    if args.json:
        print_json(out)
    else:
        lat = out["latency_ms"]
        print(f"{out['requests']} analyze requests from {out['threads']} threads ({out['server_workers']} server workers), "
              f"{out['enrolments']} enrolments alongside: p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
              f"{out['throughput_rps']:.2f} req/s, errors {out['errors']}, enrol errors {out['enrol_errors']}, lost writes {out['lost_writes']} "
              f"({out['wall_s']:.0f} s)")
    return 0 if out["errors"] == 0 and out["enrol_errors"] == 0 and out["lost_writes"] == 0 else 1


def register_bench(bsub: argparse._SubParsersAction) -> None:
    p = bsub.add_parser("serve", help="load a real local `facelens serve`: p50/p95, throughput, errors, lost writes")
    p.add_argument("--requests", type=int, default=200, help="analyze requests (default 200), each a different photo")
    p.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--enrolments", type=int, default=10, help="people enrolled alongside, one request each (default 10)")
    p.add_argument("--workers", type=int, default=None, help="server workers (default FACELENS_SERVE_WORKERS or 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd)
