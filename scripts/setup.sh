#!/usr/bin/env bash
# Rivulet set-up: system packages, npm dependencies, TypeScript build.
# Runs before every `npm start` / `npm test`; idempotent and quick when there
# is nothing to do. It prints `setup:` lines (stderr) only when it acts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# a. System packages (Debian)
# ---------------------------------------------------------------------------
DEB_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  mosquitto mosquitto-clients nats-server socat ffmpeg udev chromium libsqlite3-dev awscli
  v4l-utils python3 python3-gi gir1.2-gst-rtsp-server-1.0 make g++ strace
)

if command -v dpkg-query >/dev/null 2>&1; then
  # One call; packages dpkg has never heard of are reported on stderr and
  # simply do not appear as installed.
  installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${DEB_PACKAGES[@]}" 2>/dev/null || true)"
  declare -A present=()
  while read -r name want _ state; do
    # "install ok installed" or "hold ok installed"; ${Package} has no :arch.
    if [[ "$state" == installed && ( "$want" == install || "$want" == hold ) ]]; then
      present["$name"]=1
    fi
  done <<<"$installed"
  missing=()
  for pkg in "${DEB_PACKAGES[@]}"; do
    [[ -n "${present[$pkg]:-}" ]] || missing+=("$pkg")
  done

  if ((${#missing[@]} > 0)); then
    if [[ "$(id -u)" -eq 0 ]]; then
      say "installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      # Keep package post-install scripts from starting system services
      # (mosquitto, nats-server): tests start their own on loopback ports.
      # Uses the standard policy-rc.d hook, only if none is present already.
      policy=/usr/sbin/policy-rc.d
      if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
      fi
      apt-get update >&2
      apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >&2
    else
      printf 'Rivulet needs these Debian packages. Run:\n  sudo apt-get install -y --no-install-recommends %s\n' \
        "${missing[*]}" >&2
      exit 1
    fi
  fi
else
  say "not a Debian system (no dpkg-query); skipping system packages."
  say "make sure these are available: GStreamer 1.x (gst-launch-1.0, base/good/bad/ugly/libav plugins and development headers),"
  say "  mosquitto (and mosquitto_pub), nats-server, socat, ffmpeg/ffprobe, udevadm, chromium (/usr/bin/chromium), sqlite3 headers, aws CLI, python3 with gi and GstRtspServer (tests), make, a C++ compiler."
fi

# ---------------------------------------------------------------------------
# b. npm dependencies
# ---------------------------------------------------------------------------
# node-gyp must not try to download Node headers; sqlite3 builds against the
# system library (much faster than its bundled amalgamation).
if [[ -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi
if [[ -f /usr/include/sqlite3.h ]]; then
  export npm_config_sqlite=/usr
fi

ci_stamp=node_modules/.rivulet-ci-stamp
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
installed_now=0
if [[ ! -d node_modules || ! -f "$ci_stamp" || "$(<"$ci_stamp")" != "$lock_sum" ]]; then
  say "npm ci (package-lock.json changed or node_modules missing; this can take a few minutes)"
  # stdout -> stderr: keep `npm start`'s stdout for the program itself.
  npm ci --no-audit --no-fund </dev/null >&2
  printf '%s\n' "$lock_sum" >"$ci_stamp"
  installed_now=1
fi

# ---------------------------------------------------------------------------
# c. TypeScript build
# ---------------------------------------------------------------------------
build_stamp=dist/.rivulet-build-stamp
src_dirs=()
for d in cli lib ingest-server agent video hardware bench console; do
  if [[ -d "$d" ]]; then src_dirs+=("$d"); fi
done

have_sources=0
if ((${#src_dirs[@]} > 0)) && [[ -n "$(find "${src_dirs[@]}" -name '*.ts' -type f -print -quit)" ]]; then
  have_sources=1
fi

need_build=0
if ((have_sources)); then
  if ((installed_now)) || [[ ! -f "$build_stamp" ]]; then
    need_build=1
  else
    # Any newer .ts file, or a newer source directory (a file was added,
    # renamed or removed), or newer config.
    newer="$(find "${src_dirs[@]}" \( -name '*.ts' -type f -o -type d \) -newer "$build_stamp" -print -quit)"
    if [[ -z "$newer" ]]; then
      newer="$(find . -maxdepth 1 \( -name 'tsconfig*.json' -o -name package.json \) -newer "$build_stamp" -print -quit)"
    fi
    if [[ -n "$newer" ]]; then need_build=1; fi
  fi
fi

if ((need_build)); then
  say "building (tsc -p tsconfig.build.json, tsc -p tsconfig.console.json)"
  mkdir -p dist
  # Stamp taken *before* compiling, so an edit made during the build is seen
  # by the next run.
  # A stamp of its own per run, so two set-ups running at once do not trip over each other.
  new_stamp="$(mktemp dist/.rivulet-build-stamp.XXXXXX)"
  # The server, then the browser console (DOM, ES modules served as they are).
  if ! ./node_modules/.bin/tsc -p tsconfig.build.json >&2 || ! ./node_modules/.bin/tsc -p tsconfig.console.json >&2; then
    rm -f "$new_stamp"
    say "build failed"
    exit 1
  fi
  # Executable as npm would make them on install: rivulet-agent's V8 flags live in its #! line.
  chmod +x $(node -p "Object.values(require('./package.json').bin).join(' ')")
  mv -f "$new_stamp" "$build_stamp"
fi
