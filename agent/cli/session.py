"""``facelens session ...``: ingest recorded sessions, list/show/export/plot them, ask questions."""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.agent.cli.session_ingest import INGEST_COMMAND

HELP_ORDER = 80
COMMANDS = CommandTable()


SESSION = COMMANDS.group("session", "recorded sessions: ingest, list, show, export, plot, report, ask")
SESSION["ingest"] = INGEST_COMMAND  # its own module: the longest of the group


@SESSION.command("list", add_json_flag)
def cmd_list(args: argparse.Namespace) -> int:
    """list stored sessions"""
    from facelens.agent.assistant.api import session_listing
    from facelens.agent.sessions import store

    recs = store.load_all()
    if args.json:
        print_json([session_listing(r) for r in recs])
        return 0
    if not recs:
        print("No sessions yet. Ingest one with: facelens session ingest FILE")
    for r in recs:
        print(
            f"{r.session_id}\t{r.duration:7.1f} s\t{len(r.transcript)} utterances\t{len(r.people)} tracks\t{r.created}\t{r.source}"
        )
    return 0


def _id_json_arguments(p: argparse.ArgumentParser) -> None:
    _id_argument(p)
    add_json_flag(p)


@SESSION.command("show", _id_json_arguments)
def cmd_show(args: argparse.Namespace) -> int:
    """show one session"""
    from facelens.agent.sessions import store
    from facelens.agent.sessions.query import mmss

    rec = store.load(args.id)
    if args.json:
        print_json(rec.to_output())
        return 0
    print(f"session {rec.session_id} ({mmss(rec.duration)}) from {rec.source}, ingested {rec.created}")
    for p in rec.people:
        print(
            f"  track {p.track}{f' {p.name}' if p.name else ''}: {mmss(p.first_seen)}-{mmss(p.last_seen)}"
            + (f", mostly {p.dominant_emotion}" if p.dominant_emotion else "")
        )
    for t in rec.timeline:
        if t.emotion:
            print(f"  {mmss(t.start)}-{mmss(t.end)} track {t.track} looks {t.emotion} ({t.confidence:.0%})")
    if rec.has_video and rec.emotion_model is None:
        print("  (facial emotion not recorded: no emotion model at ingest)")
    for s in rec.transcript:
        extra = ", ".join(([s.emotion] if s.emotion != "neutral" else []) + s.cues)
        print(f'  {mmss(s.start)}-{mmss(s.end)} "{s.text}"' + (f" [{extra}]" if extra else ""))
    return 0


def _output_file(path: str, what: str):
    """The path an export or plot is written to, or InputError saying why it cannot be."""
    from pathlib import Path

    from facelens.tools.errors import InputError

    out = Path(path).expanduser()
    if out.is_dir():
        raise InputError(
            f"{out} is a folder; -o takes the file to write the {what} to.",
            hint=f"e.g. -o {out / ('session.' + what.split()[0].lower())}",
        )
    if not out.parent.is_dir():
        raise InputError(
            f"The folder {out.parent} does not exist.",
            hint=f"Create it first (mkdir -p {out.parent}) or choose another -o path.",
        )
    return out


def _export_arguments(p: argparse.ArgumentParser) -> None:
    _id_argument(p)
    p.add_argument("--format", choices=["csv", "json"], default="json")
    p.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")


@SESSION.command("export", _export_arguments)
def cmd_export(args: argparse.Namespace) -> int:
    """export one session as CSV or JSON"""
    from facelens.agent.sessions.report import export
    from facelens.tools.errors import InputError

    out = _output_file(args.output, f"{args.format.upper()} export") if args.output else None
    text = export(args.id, args.format)
    if out is not None:
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"Cannot write {out}: {exc.strerror}.", hint="Choose a writable -o path.") from exc
        print(out)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _plot_arguments(p: argparse.ArgumentParser) -> None:
    _id_argument(p)
    p.add_argument("-o", "--output", default=None, help="PNG path (default: ID.png)")


@SESSION.command("plot", _plot_arguments)
def cmd_plot(args: argparse.Namespace) -> int:
    """draw the emotion timeline of a session (PNG)"""
    from facelens.agent.sessions.report import plot
    from facelens.tools.errors import InputError

    out = _output_file(args.output, "PNG plot") if args.output else None
    try:
        print(plot(args.id, out))
    except OSError as exc:
        raise InputError(f"Cannot write the plot: {exc.strerror or exc}.", hint="Choose a writable -o path.") from exc
    return 0


def _report_arguments(p: argparse.ArgumentParser) -> None:
    _id_argument(p)
    p.add_argument(
        "--format",
        choices=["md", "html"],
        default="md",
        help="md (plot saved beside it as FILE-timeline.png) or html (one self-contained file)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="where to write it (default: ID.md / ID.html; - for Markdown on stdout)",
    )


@SESSION.command("report", _report_arguments)
def cmd_report(args: argparse.Namespace) -> int:
    """a report to share: summary, timeline plot, key moments, transcript (Markdown or HTML)"""
    from pathlib import Path

    from facelens.agent.sessions import store
    from facelens.agent.sessions.report import report
    from facelens.tools.errors import InputError

    store.check_id(args.id)
    if args.output == "-":
        text = report(args.id, args.format)  # on stdout: Markdown without the plot file, or HTML with it inside
        sys.stdout.write(text)
        return 0
    out = Path(args.output or f"{args.id}.{args.format}")
    if out.is_dir():
        raise InputError(f"{out} is a folder.", hint=f"Give a file name, e.g. -o {out / (args.id + '.' + args.format)}")
    if not out.parent.is_dir():
        raise InputError(f"The folder {out.parent} does not exist.", hint="Create it first, or choose another -o path.")
    png = out.with_name(out.stem + "-timeline.png") if args.format == "md" else None
    text = report(args.id, args.format, plot_path=png)
    out.write_text(text, encoding="utf-8")
    print(out if png is None or not png.exists() else f"{out} (plot: {png})")
    return 0


def _ask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", metavar="QUESTION")
    p.add_argument(
        "--session",
        default=None,
        metavar="ID",
        help="the session to ask about, or 'all' for every stored session (default: the sessions the question names, "
        "by id or place in 'session list' order ('session 2', 'the second call'); every session for "
        "'which / any / did anyone' questions; else the latest)",
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=["offline", "openai"],
        help="default: FACELENS_BACKEND / config.yaml backend, else openai when OPENAI_API_KEY/OPENAI_BASE_URL is set, else offline",
    )
    add_json_flag(p)


@SESSION.command("ask", _ask_arguments)
def cmd_ask(args: argparse.Namespace) -> int:
    """ask a question about stored sessions"""
    from facelens.agent.assistant.answers import backend_label
    from facelens.agent.sessions.query import ask

    ans = ask(args.question, args.session, args.backend)
    if args.json:
        print_json(ans.model_dump())
    else:
        print(ans.answer)
        print(f"[answered by {backend_label(ans.backend)}]")
    return 0


def _name_arguments(p: argparse.ArgumentParser) -> None:
    _id_argument(p)
    p.add_argument("track", metavar="TRACK", type=int, help="the track number (see: facelens session show ID)")
    p.add_argument("name", metavar="NAME", nargs="?", default=None, help="e.g. customer")
    p.add_argument("--clear", action="store_true", help="remove the track's name")


@SESSION.command("name", _name_arguments)
def cmd_name(args: argparse.Namespace) -> int:
    """name a face track ("customer", "agent", a person) so questions can use it"""
    from facelens.agent.sessions import store
    from facelens.tools.errors import InputError

    if not args.clear and not args.name:
        raise InputError(
            "Give the track a NAME, or --clear to remove its name.",
            hint=f"e.g. facelens session name {args.id} {args.track} customer",
        )
    store.name_track(args.id, args.track, None if args.clear else args.name)
    if args.clear:
        print(f"face track {args.track} of session {args.id} has no name now")
    else:
        print(
            f'face track {args.track} of session {args.id} is now "{args.name}"; ask e.g. '
            f'facelens session ask "when did the {args.name} look frustrated?" --session {args.id}'
        )
    return 0


def _id_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID")


@SESSION.command("remove", _id_argument)
def cmd_remove(args: argparse.Namespace) -> int:
    """delete a session and all its data"""
    from facelens.agent.sessions import store

    store.remove(args.id)
    print(f"removed session {args.id}")
    return 0
