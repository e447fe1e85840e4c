"""Export a stored session (JSON or CSV) and draw its emotion timeline (PNG, matplotlib)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from facelens.agent import session_store as store
from facelens.tools.errors import InputError
from facelens.tools.schema import EMOTIONS

FORMATS = ("json", "csv")
#: one colour per emotion, shared by the plot's lines and the transcript bands
COLOURS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c", "neutral": "#7f7f7f", "sad": "#1f77b4", "surprise": "#ff7f0e"}


def export(session_id: str, fmt: str = "json") -> str:
    """The whole session as JSON (the stored record plus per-second scores), or as CSV rows.

    CSV columns: kind (utterance | face), start, end, track, emotion, confidence, text, cues.
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
    w.writerow(["kind", "start", "end", "track", "emotion", "confidence", "text", "cues"])
    rows = [(s.start, ["utterance", s.start, s.end, "", s.emotion, "", s.text, ";".join(s.cues)]) for s in rec.transcript]
    rows += [(t.start, ["face", t.start, t.end, t.track, t.emotion or "", "" if t.confidence is None else t.confidence, "", ""]) for t in rec.timeline]
    for _, row in sorted(rows, key=lambda r: r[0]):
        w.writerow(row)
    return buf.getvalue()


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
                ax.broken_barh([(t.start, t.end - t.start) for t in rec.timeline if t.track == tid], (row + 0.1, 0.8), color="#9ecae1")
            ax.set_yticks([i + 0.5 for i in range(len(ids))], [f"track {i}" for i in ids])
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
        ax.set_ylabel(f"track {track}\nprobability")
    if tracks:
        axes[0, 0].legend(loc="upper right", ncol=len(EMOTIONS), fontsize=7)
    axes[0, 0].set_title(f"session {rec.session_id}: facial emotion per second, and what was said")
    ax = axes[-1, 0]
    for s in rec.transcript:
        ax.axvspan(s.start, s.end, color=COLOURS.get(s.emotion, "#7f7f7f"), alpha=0.35)
        ax.text((s.start + s.end) / 2, 0.5, s.text[:40], ha="center", va="center", fontsize=6, rotation=20, clip_on=True)
    ax.set_yticks([])
    ax.set_ylabel("words")
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
