"""Multi-stage context enrichment for video: keyframes plus VLM summaries of the frames between them.

Stage 1 (:func:`enrich`): from frames sampled in time order, pick sparse keyframes; for each gap
between two keyframes, the VLM summarises the in-between frames in one sentence.
Stage 2 (:func:`video_turns` / :func:`ask`): the final prompt interleaves keyframe, summary, keyframe,
... in time order, followed by the question.

The sessions engineer calls these with frames decoded from a recording::

    ctx, keyframes = enrich(frames, backend=vlm, keyframe_every=10.0)
    answer = ask(ctx, keyframes, "When does the customer start to look frustrated?", backend=vlm)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from facelens.tools.errors import InputError
from facelens.tools.schema import Result
from facelens.tools.vlm_backends import Generation, Turn, VLMBackend, render, turn

log = logging.getLogger(__name__)

#: most in-between frames shown for one summary (evenly spaced)
MAX_FRAMES_PER_SUMMARY = 4
MAX_KEYFRAMES = 12


class ContextItem(Result):
    kind: Literal["keyframe", "summary"]
    t: float  # seconds: the keyframe time, or the start of the summarised gap
    t_end: float | None = None  # end of the summarised gap (summaries only)
    frame: int | None = None  # index into the frames given to enrich() (keyframes only)
    text: str | None = None  # the one-sentence summary (summaries only)


class VideoContext(Result):
    items: list[ContextItem]  # keyframes and summaries, interleaved in time order
    backend: str  # which VLM wrote the summaries
    images_left_machine: bool  # True when frames were sent off this machine


def pick_keyframes(times: Sequence[float], *, keyframe_every: float | None = None, max_keyframes: int = MAX_KEYFRAMES) -> list[int]:
    """Indices of sparse keyframes: first and last frame, and one every ``keyframe_every`` seconds."""
    n = len(times)
    if n == 0:
        return []
    if keyframe_every is None:
        step = max(1, (n - 1) // max(1, max_keyframes - 1))
        idx = list(range(0, n, step))
    else:
        idx, next_t = [], times[0]
        for i, t in enumerate(times):
            if t >= next_t:
                idx.append(i)
                next_t = t + keyframe_every
    if idx[-1] != n - 1:
        idx.append(n - 1)
    if len(idx) > max_keyframes:  # keep them evenly spread
        keep = np.linspace(0, len(idx) - 1, max_keyframes).round().astype(int)
        idx = [idx[k] for k in sorted(set(keep.tolist()))]
    return idx


def _spread(indices: list[int], k: int) -> list[int]:
    if len(indices) <= k:
        return indices
    return [indices[int(j)] for j in np.linspace(0, len(indices) - 1, k).round().astype(int)]


def enrich(
    frames: Sequence[tuple[float, np.ndarray]],
    *,
    backend: VLMBackend,
    keyframes: Sequence[int] | None = None,
    keyframe_every: float | None = None,
    max_frames_per_summary: int = MAX_FRAMES_PER_SUMMARY,
    max_tokens: int = 80,
) -> tuple[VideoContext, dict[int, np.ndarray]]:
    """Summarise the frames between keyframes, one VLM call per gap.

    Args:
        frames: (seconds, RGB frame) pairs in time order.
        backend: the VLM that writes the summaries.
        keyframes: indices of the keyframes; default :func:`pick_keyframes`.
        keyframe_every: seconds between keyframes when ``keyframes`` is not given.
        max_frames_per_summary: in-between frames shown per summary (evenly spaced).
        max_tokens: longest summary.

    Returns:
        The interleaved context and the keyframe images by frame index.
    """
    if not frames:
        raise InputError("No frames to summarise.")
    times = [float(t) for t, _ in frames]
    if any(b < a for a, b in zip(times, times[1:])):
        raise InputError("Frames must be in time order.")
    keys = sorted(set(keyframes)) if keyframes is not None else pick_keyframes(times, keyframe_every=keyframe_every)
    if not keys or keys[0] < 0 or keys[-1] >= len(frames):
        raise InputError(f"Keyframe indices must lie in 0..{len(frames) - 1}.")
    items: list[ContextItem] = []
    for a, b in zip(keys, keys[1:] + [None]):
        items.append(ContextItem(kind="keyframe", t=times[a], frame=a))
        if b is None or b - a < 2:
            continue
        between = _spread(list(range(a + 1, b)), max_frames_per_summary)
        prompt = render("video_summary", n=len(between), t_start=times[between[0]], t_end=times[between[-1]])
        gen: Generation = backend.generate([turn("system", render("system")), turn("user", *[frames[i][1] for i in between], prompt)], max_tokens=max_tokens)
        sentence = " ".join(gen.text.split())
        items.append(ContextItem(kind="summary", t=times[a + 1], t_end=times[b - 1], text=sentence or "(no summary)"))
    images = {i.frame: frames[i.frame][1] for i in items if i.kind == "keyframe" and i.frame is not None}
    return VideoContext(items=items, backend=backend.name, images_left_machine=not backend.local), images


def video_turns(context: VideoContext, keyframe_images: dict[int, np.ndarray], question: str) -> list[Turn]:
    """The final prompt: keyframe, summary, keyframe, ... in time order, then the question."""
    parts: list = [render("video_intro")]
    for item in context.items:
        if item.kind == "keyframe":
            parts += [render("video_keyframe", t=item.t), keyframe_images[item.frame]]
        else:
            parts.append(render("video_between", t_start=item.t, t_end=item.t_end, text=item.text))
    parts.append(render("video_question", question=question))
    return [turn("system", render("system")), turn("user", *parts)]


def ask(context: VideoContext, keyframe_images: dict[int, np.ndarray], question: str, *, backend: VLMBackend, max_tokens: int = 300) -> Generation:
    """Answer a question about a recording from its enriched context."""
    if not question.strip():
        raise InputError("The question is empty.")
    return backend.generate(video_turns(context, keyframe_images, question), max_tokens=max_tokens)
