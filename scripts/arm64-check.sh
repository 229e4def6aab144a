#!/usr/bin/env bash
# arm64 check: runs the agent's unit tests (ava) on an arm64 Node under
# qemu-user emulation, on an x86-64 Debian 12 machine. Not part of CI or
# `npm test` (the first run downloads an arm64 Node and node_modules, and the
# tests take about 10 minutes emulated): see docs/arm64.md.
#
#   bash scripts/arm64-check.sh                      # the default test files below
#   bash scripts/arm64-check.sh test/hardware/nmea.test.ts …   # chosen files
#
# Everything it makes lives under .cache/arm64/ (git-ignored); a second run
# reuses it and only redoes what changed. Needs root for apt on first use,
# a host Node >= 20.17 with npm, and access to deb.debian.org and the npm registry.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

# Debian suite whose arm64 nodejs we run: trixie has Node 20 (bookworm's 18 is
# below the project's engines >= 20.17).
suite="${RIVULET_ARM64_SUITE:-trixie}"
cache="$repo/.cache/arm64"
apt_dir="$cache/apt"
sysroot="$cache/sysroot"
project="$cache/project"
bin="$cache/bin"

# The agent's tests that need no camera (GStreamer): see docs/arm64.md for the others.
DEFAULT_TESTS=(
  test/hardware/*.test.ts
  test/agent/config.test.ts
  test/agent/buffer.test.ts
  test/agent/video-spool.test.ts
  test/agent/video-config-doctor.test.ts
  test/agent/uploader.test.ts
  test/agent/heartbeat.test.ts
  test/agent/agent-runner.test.ts
  test/agent/agent.test.ts
  test/agent/mqtt-uploader.test.ts
  test/agent/video-uploader.test.ts
)

step() { printf '\narm64-check: %s\n' "$*" >&2; }
fail() { printf 'arm64-check: %s\n' "$*" >&2; exit 1; }

started=$SECONDS

# ---------------------------------------------------------------------------
step "1. host packages (qemu-user-static, aarch64 cross compiler for native modules)"
# ---------------------------------------------------------------------------
HOST_PACKAGES=(qemu-user-static g++-aarch64-linux-gnu make python3 file)
missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q ' installed$' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  [[ "$(id -u)" -eq 0 ]] || fail "run as root, or first: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  echo "installing ${missing[*]}" >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >&2
else
  echo "present: ${HOST_PACKAGES[*]}" >&2
fi
command -v npm >/dev/null || fail "a host Node >= 20.17 with npm is needed (it installs the arm64 packages)"
qemu="$(command -v qemu-aarch64-static)"

# ---------------------------------------------------------------------------
step "2. arm64 Node from Debian $suite (private apt state; the host's dpkg stays amd64-only)"
# ---------------------------------------------------------------------------
mkdir -p "$apt_dir"/etc/{apt.conf.d,preferences.d,sources.list.d} \
  "$apt_dir"/state/lists/partial "$apt_dir"/cache/archives/partial
printf 'deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
  "$suite" >"$apt_dir/etc/sources.list"
# An empty dpkg status: apt resolves nodejs's whole library closure.
touch "$apt_dir/state/status"
apt_arm64=(
  -o "Dir::Etc=$apt_dir/etc" -o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=$apt_dir/state/status" -o Debug::NoLocking=1
  -o APT::Architecture=arm64 -o APT::Architectures=arm64
)
if [[ ! -x "$sysroot/usr/bin/node" ]]; then
  apt-get "${apt_arm64[@]}" update >&2
  rm -f "$apt_dir"/cache/archives/*.deb
  apt-get "${apt_arm64[@]}" install -y --download-only --no-install-recommends nodejs </dev/null >&2
  rm -rf "$sysroot"
  mkdir -p "$sysroot"
  for deb in "$apt_dir"/cache/archives/*.deb; do
    dpkg-deb -x "$deb" "$sysroot"
  done
  # Trixie is merged-/usr: the dynamic loader is looked up as /lib/ld-linux-aarch64.so.1.
  ln -sfn usr/lib "$sysroot/lib"
fi
node_arm64=(nice -n 19 "$qemu" -L "$sysroot" "$sysroot/usr/bin/node")
echo "arm64 node: $("${node_arm64[@]}" -p 'process.version + " " + process.arch')" >&2

# ---------------------------------------------------------------------------
step "3. launchers: host scripts that run arm64 programs under qemu"
# ---------------------------------------------------------------------------
# Without binfmt_misc the kernel cannot exec an arm64 ELF, so every child an
# emulated program starts (ava's test workers, `node` on PATH, the CLI's
# `#!/usr/bin/env node`, esbuild's service) must go through qemu explicitly.
mkdir -p "$bin"
cat >"$bin/node" <<EOF
#!/bin/sh
exec "$qemu" -L "$sysroot" "$sysroot/usr/bin/node" "\$@"
EOF
cat >"$bin/esbuild" <<EOF
#!/bin/sh
exec "$qemu" -L "$sysroot" "$project/node_modules/@esbuild/linux-arm64/bin/esbuild" "\$@"
EOF
# fork() and spawn(process.execPath) use process.execPath, which names the arm64 binary.
cat >"$cache/exec-path.cjs" <<EOF
// Written by scripts/arm64-check.sh: child Nodes start through the qemu launcher.
process.execPath = ${bin@Q} + '/node';
EOF
chmod +x "$bin/node" "$bin/esbuild"
echo "$bin/node, $bin/esbuild, $cache/exec-path.cjs" >&2

# ---------------------------------------------------------------------------
step "4. arm64 copy of the project ($project)"
# ---------------------------------------------------------------------------
mkdir -p "$project"
find "$project" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar -C "$repo" --exclude=./node_modules --exclude=./.cache --exclude=./.git \
  --exclude=./dist --exclude=./test-artifacts --exclude=./.rivulet -cf - . | tar -C "$project" -xf -

lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
ci_stamp="$project/node_modules/.rivulet-arm64-stamp"
if [[ ! -f "$ci_stamp" || "$(<"$ci_stamp")" != "$lock_sum" ]]; then
  # Optional platform packages (@esbuild/linux-arm64, @roamhq/wrtc-linux-arm64, …)
  # for arm64; install scripts off because they would build for the host.
  (cd "$project" && nice -n 19 npm ci --cpu=arm64 --os=linux --libc=glibc --ignore-scripts \
    --no-audit --no-fund </dev/null >&2)
  printf '%s\n' "$lock_sum" >"$ci_stamp"
else
  echo "node_modules up to date with package-lock.json" >&2
fi

# ---------------------------------------------------------------------------
step "5. native modules for arm64"
# ---------------------------------------------------------------------------
is_arm64() { file -L "$1" | grep -q 'ARM aarch64'; }
sqlite_addon="$project/node_modules/sqlite3/build/Release/node_sqlite3.node"
if [[ -f "$sqlite_addon" ]] && is_arm64 "$sqlite_addon"; then
  echo "sqlite3: built already" >&2
else
  # No prebuilt download without GitHub: cross-compile its bundled SQLite.
  # The addon uses N-API only, so the host Node's headers serve.
  nodedir="$(node -p 'require("path").dirname(require("path").dirname(process.execPath))')"
  [[ -f "$nodedir/include/node/node_api.h" ]] || fail "Node headers not found under $nodedir/include/node"
  node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  echo "sqlite3: cross-compiling (a few minutes; log in $cache/sqlite3-build.log)" >&2
  (cd "$project/node_modules/sqlite3" &&
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      nice -n 19 node "$node_gyp" rebuild --arch=arm64 --nodedir="$nodedir" -j 2 >"$cache/sqlite3-build.log" 2>&1) ||
    { tail -20 "$cache/sqlite3-build.log" >&2; fail "sqlite3 build failed"; }
  is_arm64 "$sqlite_addon" || fail "sqlite3 build did not produce an arm64 addon"
fi
# Load every native module (a package with a binding.gyp, or one that ships
# its binary as a linux-arm64 optional package) in the emulated Node: what
# fails here fails in the tests that reach it, and is listed in docs/arm64.md.
(cd "$project" && "${node_arm64[@]}" - >&2 <<'EOF_JS'
const { readdirSync, readFileSync, existsSync } = require('node:fs');
const { join, relative, dirname } = require('node:path');
const packages = [];
(function walk(dir, depth) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === '.bin') continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith('@')) { walk(path, depth); continue; }
    const manifest = join(path, 'package.json');
    if (existsSync(manifest)) {
      const optional = Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).optionalDependencies ?? {});
      const native = existsSync(join(path, 'binding.gyp')) || optional.some((name) => name.endsWith('linux-arm64'));
      if (native && !path.includes('esbuild')) packages.push(path);
    }
    if (depth < 3 && existsSync(join(path, 'node_modules'))) walk(join(path, 'node_modules'), depth + 1);
  }
})('node_modules', 0);
for (const path of packages) {
  const name = relative('node_modules', path);
  try {
    require(join(process.cwd(), path));
    console.log(`${name}: loads`);
  } catch (error) {
    console.log(`${name}: DOES NOT LOAD: ${String(error.message).split('\n')[0]}`);
  }
}
EOF_JS
)

# ---------------------------------------------------------------------------
step "6. build dist/ (the CLI the tests start) with the host tsc"
# ---------------------------------------------------------------------------
(cd "$project" && nice -n 19 node node_modules/typescript/bin/tsc -p tsconfig.build.json >&2) ||
  echo "tsc reported type errors (dist/ is emitted anyway)" >&2
chmod +x $(cd "$project" && node -p "Object.values(require('./package.json').bin).map(b => '$project/' + b).join(' ')")

# ---------------------------------------------------------------------------
step "7. ava under emulated arm64 Node"
# ---------------------------------------------------------------------------
if (($# > 0)); then tests=("$@"); else tests=("${DEFAULT_TESTS[@]}"); fi
# Emulated Node runs 10-20x slower, and many tests wait for real-time events
# (simulator intervals, heartbeats) within fixed deadlines of a few seconds:
# one test at a time gives each the whole emulated CPU.
mkdir -p "$cache/test-artifacts"
echo "setup took $((SECONDS - started)) s; running: ${tests[*]}" >&2
status=0
(cd "$project" &&
  PATH="$bin:$PATH" \
    NODE_OPTIONS="--require=$cache/exec-path.cjs" \
    ESBUILD_BINARY_PATH="$bin/esbuild" \
    RIVULET_TEST_ARTIFACTS="$cache/test-artifacts" \
    nice -n 19 "$bin/node" node_modules/ava/entrypoints/cli.mjs \
    --serial --concurrency=1 --timeout=10m "${tests[@]}") || status=$?
step "done in $((SECONDS - started)) s (ava exit status $status)"
exit "$status"
