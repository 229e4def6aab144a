#!/usr/bin/env node
// Runs the ava suite (test/**/*.test.ts, configured in package.json) with the
// TAP reporter, streams its output, then runs the Data Streams and Video
// Streams API suites a second time against a NATS JetStream cluster
// (RIVULET_TEST_STORE=nats), and ends with one plain summary line
// `N passed, N failed` over both passes that CI reads. Skipped and todo tests
// count as failed: this project does not accept them. Extra CLI arguments are
// passed to ava (file filters, e.g. `npm test -- test/foo.test.ts`); a
// filtered run is a quick check and skips the JetStream pass.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const avaCli = join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

if (!existsSync(avaCli)) {
  console.error(
    `run-tests: ava is not installed (${avaCli} not found).\n` +
      '  Run `bash scripts/setup.sh` (or `npm ci`) in the repository root, then try again.',
  );
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const env = { ...process.env };
if (!env.RIVULET_TEST_ARTIFACTS) {
  env.RIVULET_TEST_ARTIFACTS = join(repo, 'test-artifacts');
}
try {
  mkdirSync(env.RIVULET_TEST_ARTIFACTS, { recursive: true });
} catch {
  // Tests that need the directory will report it themselves.
}

// The API suites that go through the test harnesses (test/helpers/kinesis.ts,
// video.ts), which put the server on JetStream when RIVULET_TEST_STORE=nats.
// Left out: store.test.ts drives the video stores directly (its JetStream case
// starts its own cluster) and encryption.test.ts searches the data dir's files
// for plaintext and restarts on it; both are about the embedded store and
// already ran in the first pass.
const NATS_PASS = [
  'test/data-streams/*.test.ts',
  'test/video-streams/*.test.ts',
  '!test/video-streams/store.test.ts',
  '!test/data-streams/encryption.test.ts',
];

/** Runs ava once with the TAP reporter, echoing its output; resolves with its counts. */
function runAva(args, passEnv) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [avaCli, '--tap', ...args], {
      cwd: repo,
      env: passEnv,
      stdio: ['ignore', 'pipe', 'inherit'],
    });

    // Counts from ava's TAP summary (`# pass N` ...), and from the individual
    // result lines as a fall-back if the summary never arrives (crash, kill).
    const summary = { pass: null, fail: null, skip: 0, todo: 0 };
    const lines = { pass: 0, fail: 0, skip: 0, todo: 0 };

    function parseLine(line) {
      let m = /^# (pass|fail|skip|todo) (\d+)\s*$/.exec(line);
      if (m) {
        summary[m[1]] = Number(m[2]);
        return;
      }
      m = /^(not ok|ok)\b(?:[^#]*)(?:#\s*(SKIP|TODO)\b)?/i.exec(line);
      if (m) {
        const directive = m[2]?.toUpperCase();
        if (directive === 'SKIP') lines.skip++;
        else if (directive === 'TODO') lines.todo++;
        else if (m[1] === 'ok') lines.pass++;
        else lines.fail++;
      }
    }

    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        parseLine(pending.slice(0, nl).replace(/\r$/, ''));
        pending = pending.slice(nl + 1);
      }
    });

    const forward = (sig) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, forward);

    child.on('error', (err) => {
      console.error(`run-tests: could not start ava: ${err.message}`);
    });

    child.on('close', (code, signal) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(sig, forward);
      if (pending) parseLine(pending);

      let passed;
      let failed;
      if (summary.pass !== null || summary.fail !== null) {
        passed = summary.pass ?? 0;
        failed = (summary.fail ?? 0) + summary.skip + summary.todo;
      } else {
        passed = lines.pass;
        failed = lines.fail + lines.skip + lines.todo;
      }

      let exitCode = typeof code === 'number' ? code : 1;
      if (signal) console.error(`run-tests: ava was killed by ${signal}`);
      if (failed > 0 && exitCode === 0) exitCode = 1;
      if (passed + failed === 0) {
        console.error('run-tests: no tests ran');
        exitCode = 1;
      }
      // ava failed for a reason outside any single test (uncaught exception,
      // timeout, no test files...): make the summary say so too.
      if (exitCode !== 0 && failed === 0) failed = 1;
      resolve({ passed, failed, exitCode });
    });
  });
}

const args = process.argv.slice(2);
const passes = [await runAva(args, env)];
if (args.length === 0) {
  console.error('run-tests: running the Data Streams and Video Streams API suites again on NATS JetStream');
  passes.push(await runAva(NATS_PASS, { ...env, RIVULET_TEST_STORE: 'nats' }));
}
const passed = passes.reduce((sum, pass) => sum + pass.passed, 0);
const failed = passes.reduce((sum, pass) => sum + pass.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = passes.find((pass) => pass.exitCode !== 0)?.exitCode ?? 0;
