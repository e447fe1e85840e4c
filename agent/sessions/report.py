"""Export a stored session (JSON or CSV) and draw its emotion timeline (PNG, matplotlib)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from facelens.agent.sessions import store
from facelens.tools.errors import InputError
from facelens.tools.schema import EMOTIONS

FORMATS = ("json", "csv")
#: one colour per emotion, shared by the plot's lines and the transcript bands
COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "neutral": "#7f7f7f",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
}


def export(session_id: str, fmt: str = "json") -> str:
    """The whole session as JSON (the stored record plus per-second scores), or as CSV rows.

    CSV columns: kind (utterance | face), start, end, track, emotion, confidence, text, cues, name (the
    face track's name, "customer", when one was given with ``facelens session name``; last, so the
    earlier columns keep their places).
    """
    if fmt not in FORMATS:
        raise InputError(f"Unknown export format '{fmt}'.", hint=f"Choose one of: {', '.join(FORMATS)}.")
    rec = store.load(session_id)
    if fmt == "json":
        data = rec.model_dump()
        data["seconds"] = [s.model_dump() for s in store.seconds(session_id)]
        return json.dumps(data, indent=2, ensure_ascii=False)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = track_names(rec)
    w.writerow(["kind", "start", "end", "track", "emotion", "confidence", "text", "cues", "name"])
    rows = [
        (s.start, ["utterance", s.start, s.end, "", s.emotion, "", s.text, ";".join(s.cues), ""])
        for s in rec.transcript
    ]
    rows += [
        (
            t.start,
            [
                "face",
                t.start,
                t.end,
                t.track,
                t.emotion or "",
                "" if t.confidence is None else t.confidence,
                "",
                "",
                names.get(t.track, ""),
            ],
        )
        for t in rec.timeline
    ]
    for _, row in sorted(rows, key=lambda r: r[0]):
        w.writerow([csv_cell(c) for c in row])
    return buf.getvalue()


def track_names(rec: store.SessionRecord) -> dict[int, str]:
    """Track number -> the name given to it ("customer"), for the tracks that have one."""
    return {p.track: p.name for p in rec.people if p.name}


def track_label(rec: store.SessionRecord, track: int) -> str:
    """ "customer (track 2)" for a named track, else "track 2"."""
    name = track_names(rec).get(track)
    return f"{name} (track {track})" if name else f"track {track}"


def plot(session_id: str, path: str | Path | None = None) -> Path:
    """Draw the per-second facial emotion probabilities per track, with the utterances coloured by
    their words' emotion underneath. Returns the PNG path (default: ``<session_id>.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = store.load(session_id)
    secs = store.seconds(session_id)
    tracks = sorted({s.track for s in secs})
    out = Path(path or f"{session_id}.png")
    if out.suffix.lower() != ".png":
        raise InputError(f"The plot is a PNG; give a path ending in .png, not {out.name}.")
    rows = max(1, len(tracks)) + 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.2 * rows), sharex=True, squeeze=False)
    end = max(rec.duration, 1.0)
    for ax, track in zip(axes[:-1, 0], tracks or [None]):
        if track is None:
            why = "no faces seen" if rec.has_video else "audio only"
            why = "no emotion model at ingest" if rec.has_video and rec.people and rec.emotion_model is None else why
            ax.text(0.5, 0.92, f"no facial emotion ({why})", ha="center", va="top", transform=ax.transAxes)
            # still show when each face track was on screen
            ids = sorted({t.track for t in rec.timeline})
            for row, tid in enumerate(ids):
                ax.broken_barh(
                    [(t.start, t.end - t.start) for t in rec.timeline if t.track == tid],
                    (row + 0.1, 0.8),
                    color="#9ecae1",
                )
            ax.set_yticks([i + 0.5 for i in range(len(ids))], [track_label(rec, i) for i in ids])
            ax.set_ylim(0, max(1, len(ids)) + 0.6)
            continue
        mine = [s for s in secs if s.track == track]
        t: list[float] = []
        rows_by_e: dict[str, list[float]] = {e: [] for e in EMOTIONS}
        for i, s in enumerate(mine):
            if i and s.t - mine[i - 1].t > 1.0:  # the face was off screen: break the lines
                t.append(float("nan"))
                for e in EMOTIONS:
                    rows_by_e[e].append(float("nan"))
            t.append(s.t + 0.5)
            for e in EMOTIONS:
                rows_by_e[e].append(s.scores.get(e, 0.0))
        for e in EMOTIONS:
            ax.plot(t, rows_by_e[e], color=COLOURS[e], label=e, lw=1.6, marker="." if len(mine) < 30 else None)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{track_label(rec, track)}\nprobability")
    if tracks:
        axes[0, 0].legend(loc="upper right", ncol=len(EMOTIONS), fontsize=7)
    axes[0, 0].set_title(f"session {rec.session_id}: facial emotion per second, and what was said")
    ax = axes[-1, 0]
    for s in rec.transcript:
        ax.axvspan(s.start, s.end, color=COLOURS.get(s.emotion, "#7f7f7f"), alpha=0.35)
        ax.text(
            (s.start + s.end) / 2, 0.5, s.text[:40], ha="center", va="center", fontsize=6, rotation=20, clip_on=True
        )
    ax.set_yticks([])
    ax.set_ylabel("words")
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# --- the shareable report: summary, timeline plot, moments, transcript --------------------------

REPORT_FORMATS = ("md", "html")
MAX_REPORT_ROWS = 2000  # transcript rows in a report (hours-long sessions say how many were left out)
MAX_REPORT_MOMENTS = 200


def _md_cell(text: object) -> str:
    """A table cell shown as plain text: names and words never become links, images or HTML."""
    from facelens.tools.names import markdown_text

    return markdown_text(text)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ (or a tab / carriage return)
    would be run as a formula (``=HYPERLINK(...)``), so it gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report(session_id: str, fmt: str = "md", *, plot_path: Path | None = None) -> str:
    """The session as a report to share: the summary, the timeline plot, the mood per person, every key
    moment (face and words side by side) and the transcript.

    Args:
        session_id: a stored session.
        fmt: "md" (Markdown; the plot is linked as ``plot_path``) or "html" (one self-contained file,
            the plot embedded).
        plot_path: where the Markdown report's PNG goes (written here); None leaves the plot out.
    """
    import base64
    import html
    import tempfile

    from facelens.agent.sessions.query import mmss
    from facelens.agent.sessions.summary import summarise

    if fmt not in REPORT_FORMATS:
        raise InputError(f"Unknown report format '{fmt}'.", hint=f"Choose one of: {', '.join(REPORT_FORMATS)}.")
    rec = store.load(session_id)
    summary = summarise(rec, max_moments=MAX_REPORT_MOMENTS)
    names = {p.track: p.name for p in rec.people if p.name}
    people = [
        [
            f"track {t.track}",
            names.get(t.track) or "",
            f"{t.seconds:.0f} s",
            t.dominant or "",
            ", ".join(f"{e} {s:.0%}" for e, s in t.shares.items()),
        ]
        for t in summary.tracks
    ]
    moments = [
        [
            mmss(m.time),
            names.get(m.track) or f"track {m.track}",
            f"{m.before} → {m.after}",
            f"{m.confidence:.0%}",
            " ".join(f'{mmss(u.start)} "{u.text}" ({u.emotion})' for u in m.said_before),
            m.words_now or "",
        ]
        for m in summary.moments
    ]
    lines = [
        [mmss(s.start), mmss(s.end), s.emotion, f"{s.valence:+.2f}", ", ".join(s.cues), s.text]
        for s in rec.transcript[:MAX_REPORT_ROWS]
    ]
    left_out = max(0, len(rec.transcript) - MAX_REPORT_ROWS)
    meta = (
        f"{Path(rec.source).name} · {mmss(rec.duration)} · ingested {rec.created[:19].replace('T', ' ')} UTC · "
        f"face model: {rec.emotion_model or 'none'} · speech model: {rec.speech_model or 'none'}"
    )
    note = (
        "Faces are described by how they looked (appearance), with the model's confidence; they are not "
        "statements about what anyone felt. The words' emotion is read from the transcript alone."
    )
    heads = {
        "people": ["track", "name", "face read", "mostly", "shares"],
        "moments": ["time", "who", "look", "confidence", "said just before", "words then"],
        "transcript": ["start", "end", "words", "valence", "voice", "text"],
    }
    png: bytes | None = None
    if rec.timeline or rec.transcript:
        with tempfile.TemporaryDirectory() as tmp:
            png = plot(session_id, Path(tmp) / "timeline.png").read_bytes()
    if fmt == "md":
        out = [f"# Session {_md_cell(rec.session_id)}", "", _md_cell(meta), "", "## Summary", ""]
        out += ["\n".join(_md_cell(line) + "  " for line in summary.text.splitlines()), ""]
        if png is not None and plot_path is not None:
            Path(plot_path).write_bytes(png)
            out += ["## Timeline", "", f"![emotion timeline]({Path(plot_path).name})", ""]
        for title, key, rows in (
            ("Mood by person", "people", people),
            ("Key moments", "moments", moments),
            ("Transcript", "transcript", lines),
        ):
            out += [f"## {title}", ""]
            if not rows:
                out += ["(none)", ""]
                continue
            out += ["| " + " | ".join(heads[key]) + " |", "|" + "---|" * len(heads[key])]
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] + [""]
        if left_out:
            out += [f"({left_out} more utterances are in `facelens session export {rec.session_id}`.)", ""]
        return "\n".join(out + [f"_{note}_", ""])
    esc = html.escape

    def table(key: str, rows: list[list[str]]) -> str:
        if not rows:
            return "<p>(none)</p>"
        head = "".join(f"<th>{esc(h)}</th>" for h in heads[key])
        body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    img = (
        f'<h2>Timeline</h2><img alt="emotion timeline" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        if png is not None
        else ""
    )
    more = (
        f"<p>({left_out} more utterances are in <code>facelens session export {esc(rec.session_id)}</code>.)</p>"
        if left_out
        else ""
    )
    summary_html = "".join(f"<p>{esc(line)}</p>" for line in summary.text.splitlines())
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Session {esc(rec.session_id)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}img{max-width:100%}.meta,.note{color:#666}"
        "</style></head><body>"
        f"<h1>Session {esc(rec.session_id)}</h1><p class='meta'>{esc(meta)}</p><h2>Summary</h2>{summary_html}{img}"
        f"<h2>Mood by person</h2>{table('people', people)}<h2>Key moments</h2>{table('moments', moments)}"
        f"<h2>Transcript</h2>{table('transcript', lines)}{more}<p class='note'>{esc(note)}</p></body></html>\n"
    )
