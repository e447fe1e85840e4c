"""Ingest a recorded session (video or audio) into the session store.

Video: frames are sampled (default 2 per second) and scaled to at most 640 px. A full-frame face
detection runs every ``full_every`` seconds or when a face is lost; in between, each face is found
again in a small region around its last box (about 10x cheaper). Faces are tracked by box overlap
(IoU) and, when a face appears anew, by its 128-d embedding against every earlier track, so a person
who leaves and comes back keeps the same track id. Embeddings are computed only for new faces and
every ``embed_every`` seconds, because they are the costliest step. The facial emotion per sample comes
from ``facelens.tools.emotion`` when that model is installed and is smoothed per second.

Audio: transcribed with timestamps in a background thread while the frames are processed (the two
share the CPU cores), then every utterance gets its words' emotion and voice cues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens.agent.sessions import store
from facelens.agent.sessions.store import SecondScores, SessionRecord, SessionSegment, TimelineEntry, TrackInfo
from facelens.tools import embedders, faces, media, prosody
from facelens.tools.errors import FacelensError
from facelens.tools.identity import TRACK_SAME_PERSON
from facelens.tools.schema import EMOTIONS
from facelens.tools.speech import Transcriber, Transcript
from facelens.tools.speech import join as join_transcripts
from facelens.tools.text_emotion import classify_texts

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
MAX_SIDE = 640
THUMB_SAME = 0.8  # thumbnail correlation above which a tracked face is taken to be unchanged


@dataclass
class _Track:
    id: int
    box: tuple[int, int, int, int]
    last_t: float
    first_t: float
    emb_sum: np.ndarray = field(default_factory=lambda: np.zeros(128, np.float32))
    emb_n: int = 0
    last_emb_t: float = -1e9
    samples: int = 0
    thumb: np.ndarray | None = None  # small normalised grey face crop: a cheap "same face?" check

    @property
    def mean(self) -> np.ndarray | None:
        return self.emb_sum / self.emb_n if self.emb_n else None

    def add_embedding(self, vec: np.ndarray, t: float) -> None:
        self.emb_sum += vec
        self.emb_n += 1
        self.last_emb_t = t


@dataclass(frozen=True)
class _Sample:
    t: float
    track: int
    scores: dict[str, float] | None  # facial emotion probabilities, None without the model


def _thumb(rgb: np.ndarray, landmarks) -> np.ndarray:
    """A 24 x 24 aligned grey face, zero-mean and unit-norm (dot product = correlation)."""
    g = faces.align_face(rgb, landmarks, size=24).mean(axis=2).reshape(-1)
    g = g - g.mean()
    return (g / max(1e-6, float(np.linalg.norm(g)))).astype(np.float32)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def _emotion_model():
    try:
        from facelens.tools import emotion
    except ImportError:
        return None
    try:
        return emotion if emotion.available() else None
    except Exception as exc:  # a broken optional model must not stop the ingest
        log.warning("emotion model unavailable: %s", exc)
        return None


class FaceTracker:
    """Detect and track faces over sampled frames with identity-stable ids."""

    def __init__(
        self,
        detector: str = faces.DEFAULT_DETECTOR,
        full_every: float = 2.0,
        embed_every: float = 10.0,
        embedding: str = "dlib",
    ) -> None:
        from facelens.tools import embedders

        self.detector = detector
        #: the embedding tracks are compared with: the gallery's, so that tracks can be named from it
        self.embedding = embedding
        self.same_person = TRACK_SAME_PERSON if embedding == "dlib" else embedders.TRACK_SAME_PERSON[embedding]
        self.full_every = full_every
        self.embed_every = embed_every
        self.tracks: list[_Track] = []
        self.last_full = -1e9
        self.emotion = _emotion_model()

    def _active(self, t: float) -> list[_Track]:
        return [k for k in self.tracks if t - k.last_t <= 1.5]

    def _roi_detect(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> list[faces.Detection]:
        import cv2

        x, y, w, h = box
        H, W = rgb.shape[:2]
        x0, y0 = max(0, int(x - 0.6 * w)), max(0, int(y - 0.6 * h))
        x1, y1 = min(W, int(x + 1.6 * w)), min(H, int(y + 1.6 * h))
        crop = rgb[y0:y1, x0:x1]
        # HOG finds faces of ~80 px and up: shrink big faces to ~100 px, the cheapest size that works
        s = min(1.0, 100.0 / max(1, w))
        if s < 1.0:
            crop = cv2.resize(
                crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))), interpolation=cv2.INTER_AREA
            )
        found = faces.detect_faces(np.ascontiguousarray(crop), "hog", upsample=0 if w * s >= 80 else 1)
        out = []
        for d in found:
            bx, by, bw, bh = d.box
            out.append(
                faces.Detection((int(bx / s) + x0, int(by / s) + y0, int(bw / s), int(bh / s)), d.score, d.detector)
            )
        return out

    def _detect(self, rgb: np.ndarray, t: float) -> list[faces.Detection]:
        active = self._active(t)
        if active and t - self.last_full < self.full_every:
            dets: list[faces.Detection] = []
            for k in active:
                found = self._roi_detect(rgb, k.box)
                if not found:
                    break  # lost a face: look at the whole frame instead
                dets.append(max(found, key=lambda d: _iou(d.box, k.box)))
            else:
                return dets
        self.last_full = t
        return faces.detect_faces(rgb, self.detector, upsample=0)

    def step(self, rgb: np.ndarray, t: float) -> list[_Sample]:
        """Process one sampled frame; returns one sample per face seen."""
        dets: list[faces.Detection] = []
        for d in sorted(self._detect(rgb, t), key=lambda d: -d.score):
            if all(_iou(d.box, o.box) < 0.4 for o in dets):  # two tracks' regions can hold one face
                dets.append(d)
        if not dets:
            return []
        found, shapes = faces.with_landmarks(rgb, dets)
        active = self._active(t)
        assigned: dict[int, _Track] = {}
        used: set[int] = set()
        pairs = sorted(((_iou(f.box, k.box), i, k.id) for i, f in enumerate(found) for k in active), reverse=True)
        by_id = {k.id: k for k in self.tracks}
        for iou, i, kid in pairs:
            if iou < 0.3 or i in assigned or kid in used:
                continue
            assigned[i] = by_id[kid]
            used.add(kid)
        # a cut can put another face where the last one was: compare cheap thumbnails, and check
        # the embedding when the face looks different
        thumbs = [_thumb(rgb, f.landmarks) for f in found]
        changed = {i for i, k in assigned.items() if k.thumb is not None and float(thumbs[i] @ k.thumb) < THUMB_SAME}
        # embeddings: for new or changed faces (to re-identify them) and now and then for tracked ones
        need = [
            i
            for i in range(len(found))
            if i not in assigned or i in changed or t - assigned[i].last_emb_t >= self.embed_every
        ]
        vecs = (
            embedders.vectors(rgb, [found[i] for i in need], [shapes[i] for i in need], self.embedding)
            if need
            else np.zeros((0, 128), np.float32)
        )
        for i, vec in zip(need, vecs):
            if i in assigned:
                k = assigned[i]
                if k.mean is None or float(np.linalg.norm(k.mean - vec)) < self.same_person:
                    k.add_embedding(vec, t)
                    continue
                del assigned[i]  # someone else: re-identify below
            best, dist = None, self.same_person
            for k in self.tracks:
                if k.id in used or k.mean is None:
                    continue
                d = float(np.linalg.norm(k.mean - vec))
                if d < dist:
                    best, dist = k, d
            if best is None:
                best = _Track(id=len(self.tracks) + 1, box=found[i].box, last_t=t, first_t=t)
                self.tracks.append(best)
            best.add_embedding(vec, t)
            assigned[i] = best
            used.add(best.id)
        scores: list[dict[str, float] | None] = [None] * len(found)
        if self.emotion is not None:
            for i, est in enumerate(self.emotion.classify(rgb, [f.landmarks for f in found])):
                scores[i] = dict(est.scores)
        out = []
        for i, f in enumerate(found):
            k = assigned[i]
            k.box, k.last_t, k.thumb = f.box, t, thumbs[i]
            k.samples += 1
            out.append(_Sample(t=t, track=k.id, scores=scores[i]))
        return out


def _smooth(samples: list[_Sample], duration: float) -> list[SecondScores]:
    """Per track and second: mean emotion probabilities over a 2 s window centred on the second."""
    out: list[SecondScores] = []
    for track in sorted({s.track for s in samples}):
        mine = [s for s in samples if s.track == track and s.scores is not None]
        times = np.array([s.t for s in mine])
        if not mine:
            continue
        probs = np.array([[s.scores.get(e, 0.0) for e in EMOTIONS] for s in mine])  # type: ignore[union-attr]
        for sec in range(int(np.ceil(max(duration, times.max() + 1e-3)))):
            if not ((times >= sec) & (times < sec + 1)).any():
                continue  # the face was not seen in this second
            window = (times >= sec - 0.5) & (times < sec + 1.5)
            p = probs[window].mean(axis=0)
            j = int(np.argmax(p))
            out.append(
                SecondScores(
                    track=track,
                    t=float(sec),
                    label=EMOTIONS[j],
                    confidence=round(float(p[j]), 4),
                    scores={e: round(float(v), 4) for e, v in zip(EMOTIONS, p)},
                )
            )
    return out


def timeline_of(seconds: list[SecondScores], samples: list[_Sample], step: float) -> list[TimelineEntry]:
    """Merge consecutive seconds with the same label; without an emotion model, visibility spans."""
    entries: list[TimelineEntry] = []
    if seconds:
        for s in seconds:
            last = entries[-1] if entries else None
            if last and last.track == s.track and last.emotion == s.label and s.t - last.end <= 1.0:
                n = round(last.end - last.start)
                conf = (last.confidence * n + s.confidence) / (n + 1)  # type: ignore[operator]
                entries[-1] = last.model_copy(update={"end": s.t + 1, "confidence": round(conf, 3)})
            else:
                entries.append(
                    TimelineEntry(
                        start=s.t, end=s.t + 1, emotion=s.label, confidence=round(s.confidence, 3), track=s.track
                    )
                )
        return sorted(entries, key=lambda e: (e.start, e.track))
    for track in sorted({s.track for s in samples}):
        for s in (x for x in samples if x.track == track):
            last = entries[-1] if entries else None
            if last and last.track == track and s.t - last.end <= step + 1e-6:
                entries[-1] = last.model_copy(update={"end": round(s.t + step, 3)})
            else:
                entries.append(
                    TimelineEntry(start=s.t, end=round(s.t + step, 3), emotion=None, confidence=None, track=track)
                )
    return sorted(entries, key=lambda e: (e.start, e.track))


def _people(tracker: FaceTracker, seconds: list[SecondScores], step: float) -> list[TrackInfo]:
    out = []
    for k in tracker.tracks:
        labels = [s.label for s in seconds if s.track == k.id]
        dominant = max(set(labels), key=labels.count) if labels else None
        out.append(
            TrackInfo(
                track=k.id,
                first_seen=k.first_t,
                last_seen=k.last_t,
                seconds=round(k.samples * step, 2),
                dominant_emotion=dominant,
            )
        )
    return out


def identity_embedding() -> str:
    """The embedding to track faces with: the gallery's, so its names can be given to the tracks
    (an empty gallery: the configured one; a gallery that cannot be read or is refused: the configured one)."""
    from facelens.tools import embedders

    try:
        from facelens.tools.identity_store import open_gallery

        gallery = open_gallery()
        return embedders.for_gallery(gallery.embedding, gallery.describe())
    except FacelensError as exc:  # the tracks are still made; name_tracks says why they stay anonymous
        log.info("tracking with the configured embedding: %s", exc)
        return embedders.configured()[0]


def name_tracks(people: list[TrackInfo], means: dict[int, list[float]], embedding: str = "dlib") -> list[TrackInfo]:
    """The tracks with the gallery's names where it knows the face (open set: others stay unnamed).

    ``means`` is each track's mean embedding (:attr:`Analysis.track_means`), made by ``embedding``; a
    gallery of another embedding names no one. A batch ingest calls this on the driver, so the gallery
    stays on the machine that stores the sessions.
    """
    known = [p.track for p in people if p.track in means]
    if not known:
        return people
    names: dict[int, str | None] = {}
    try:
        from facelens.tools import identity
        from facelens.tools.identity_store import open_gallery

        gallery = open_gallery()
        recorded = gallery.embedding
        if recorded is not None and recorded != embedding:
            log.warning(
                "the tracks were made with %s embeddings and %s holds %s ones: tracks stay unnamed",
                embedding,
                gallery.describe(),
                recorded,
            )
            return people
        for track, m in zip(known, identity.lookup(np.asarray([means[t] for t in known], np.float32), gallery=gallery)):
            names[track] = m.name if m is not None and m.known else None
    except Exception as exc:  # no gallery, or the identity module is absent: tracks stay anonymous
        log.info("identity lookup skipped: %s", exc)
    return [p.model_copy(update={"name": names.get(p.track)}) for p in people]


def utterance_spans(transcript: Transcript) -> list[tuple[float, float, str]]:
    """Sentences with their times: Whisper's segments can run for 30 s; questions need finer steps."""
    out = []
    for seg in transcript.segments:
        if not seg.words:
            out.append((seg.start, seg.end, seg.text))
            continue
        words: list = []
        for w in seg.words:
            words.append(w)
            if w.text.endswith((".", "?", "!")) or w is seg.words[-1]:
                out.append((words[0].start, words[-1].end, " ".join(x.text for x in words)))
                words = []
    return out


def _segments(transcript: Transcript, feats: list) -> list[SessionSegment]:
    """The stored utterances: words, their emotion, and the voice's cues (``feats``: the prosody of
    each of :func:`utterance_spans`, measured while the audio streamed by)."""
    utterances = utterance_spans(transcript)
    base = prosody.baseline_of(feats) if len(feats) >= 3 else None
    out = []
    texts = [text for _, _, text in utterances]
    words = classify_texts(texts, [None, *texts[:-1]])  # each utterance read with the one before it
    for (start, end, text), f, te in zip(utterances, feats, words):
        cues = [c for c in prosody.cues_from(f, base).cues if c != "no voice"]
        out.append(SessionSegment(start=start, end=end, text=text, emotion=te.label, valence=te.valence, cues=cues))
    return out


@dataclass(frozen=True)
class Analysis:
    """One recording analysed, not yet stored (what a batch worker sends back to the driver)."""

    record: SessionRecord
    seconds: list[SecondScores]  # per track and second, for the store
    track_means: dict[int, list[float]]  # mean 128-d embedding per face track: for naming only, never stored
    embedding: str = "dlib"  # what made track_means ("dlib" or "sface", tools/embedders.py)


def ingest(
    path: str | Path,
    session_id: str | None = None,
    *,
    fps: float = 2.0,
    detector: str = faces.DEFAULT_DETECTOR,
    transcriber: Transcriber | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    source: str | None = None,
) -> SessionRecord:
    """Analyse a recorded video or audio file and store it as a session (``source``: the name recorded
    as where it came from, default ``path``; the REST API gives the uploaded file's name, not its temp path).

    Raises:
        MediaError: the file is missing, empty, not media, or beyond the limits.
        InputError: the session id is invalid or taken (unless ``replace``), or the same file is
            being ingested by another process right now (checked before any work).
    """
    t0 = time.perf_counter()
    media.probe(path)
    if session_id:
        store.check_id(session_id)
    # claim the file's content and the id before the work, so a second ingest of the same file
    # at the same time stops here instead of doing it all again and failing at the end
    content = store.content_key(path)
    sid = store.claim(content, session_id, path, replace=replace)
    try:
        done = analyse(
            path, sid, fps=fps, detector=detector, transcriber=transcriber, progress=progress, started=t0, source=source
        )
        store.save(done.record, done.seconds, replace=replace, claim_key=content)
    finally:
        store.release(content)
    rec = done.record
    log.info(
        "ingested %s as %s in %.1f s (%.1f x real time)",
        path,
        sid,
        rec.ingest_seconds,
        rec.duration / max(rec.ingest_seconds, 1e-6),
    )
    return rec


def analyse(
    path: str | Path,
    session_id: str,
    *,
    fps: float = 2.0,
    detector: str = faces.DEFAULT_DETECTOR,
    transcriber: Transcriber | None = None,
    progress: Progress | None = None,
    name_people: bool = True,
    source: str | None = None,
    started: float | None = None,
    embedding: str | None = None,
) -> Analysis:
    """Analyse a recording without storing it (no database access unless ``name_people`` looks up
    the gallery). ``source`` is the path recorded in the session (default ``path``). ``embedding``:
    what tracks faces ("dlib" or "sface"; default :func:`identity_embedding`, the gallery's).

    Raises:
        MediaError: the file is missing, empty, not media, or beyond the limits.
    """
    t0 = time.perf_counter() if started is None else started
    info = media.probe(path)
    store.check_id(session_id)
    report = progress or (lambda f, m: None)
    transcriber = transcriber or Transcriber()
    step = 1.0 / fps

    def hear() -> tuple[Transcript, list[prosody.VoiceFeatures]]:
        # chunk by chunk (tools/media.iter_audio): memory stays flat however long the recording is
        parts, feats = [], []
        stream = getattr(transcriber, "transcribe_chunks", None)
        if stream is None:  # a transcriber with transcribe() alone: the whole recording as one chunk
            whole = media.AudioChunk(0.0, media.load_audio(path))
            stream = lambda p: [(whole, transcriber.transcribe(whole.samples))]  # noqa: E731
        for chunk, part in stream(path):
            feats.extend(
                prosody.measure(chunk.between(start, end), words=len(text.split()))
                for start, end, text in utterance_spans(part)
            )
            parts.append(part)
        return join_transcripts(parts), feats

    tracker = FaceTracker(detector, embedding=embedding or identity_embedding())
    samples: list[_Sample] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        heard = pool.submit(hear) if info.has_audio else None
        if info.has_video:
            for frame in media.iter_frames(path, fps=fps, max_side=MAX_SIDE):
                samples.extend(tracker.step(frame.rgb, frame.time))
                report(
                    min(1.0, frame.time / max(info.duration, 1e-3)), f"frames {frame.time:.0f}/{info.duration:.0f} s"
                )
        if heard is not None:
            report(1.0 if info.has_video else 0.0, "transcribing")
            transcript, feats = heard.result()
        else:
            transcript, feats = None, []
    seconds = _smooth(samples, info.duration)
    means = {k.id: k.mean.tolist() for k in tracker.tracks if k.mean is not None}
    people = _people(tracker, seconds, step)
    record = SessionRecord(
        session_id=session_id,
        source=str(source or path),
        created=store.now(),
        duration=info.duration,
        has_video=info.has_video,
        has_audio=info.has_audio,
        fps=fps,
        transcript=_segments(transcript, feats) if transcript is not None else [],
        timeline=timeline_of(seconds, samples, step),
        people=name_tracks(people, means, tracker.embedding) if name_people else people,
        emotion_model=tracker.emotion.model_version() if tracker.emotion is not None else None,
        speech_model=f"{transcriber.backend}:{transcriber.model}" if transcript is not None else None,
        ingest_seconds=round(time.perf_counter() - t0, 2),
    )
    return Analysis(record, seconds, means, tracker.embedding)
