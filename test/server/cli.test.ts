// The `rivulet` command line as users meet it: help, option validation, refusals that protect
// them (open network without credentials), a broken credentials file, a port that is taken.

import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startServerProcess, tempDir } from '../helpers/server-process.js';

const SERVER_OPTIONS = [
  '--port',
  '--host',
  '--data-dir',
  '--credentials',
  '--tls-cert',
  '--tls-key',
  '--encryption-keys',
  '--enforce-throughput',
  '--shard-limit',
  '--state-change-ms',
  '--region',
  '--account-id',
  '--log-level',
];

/** stderr without the JSON log lines the server writes, i.e. what the CLI says to a person. */
function messages(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{'));
}

test('rivulet --help lists the commands and exits 0', async (t) => {
  const run = await runCli(['--help']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /Usage: rivulet/);
  t.regex(run.stdout, /^\s+server\b/m);
  t.regex(run.stdout, /^\s+demo\b/m);
});

test('rivulet server --help lists every option and exits 0', async (t) => {
  const run = await runCli(['server', '--help']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /Usage: rivulet server/);
  for (const option of SERVER_OPTIONS) t.true(run.stdout.includes(option), `${option} missing from:\n${run.stdout}`);
});

test('a port that is not a number is refused with a message naming --port', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const run = await runCli(['server', '--port', 'abc', '--data-dir', path]);
  t.false(run.timedOut, 'the server started instead of refusing the option');
  t.not(run.code, 0);
  t.regex(run.stderr, /--port/);
  t.regex(run.stderr, /abc/);
  t.notRegex(run.stdout, /Rivulet listening/);
});

test('--host 0.0.0.0 without --credentials is refused with one clear line', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const run = await runCli(['server', '--port', '0', '--host', '0.0.0.0', '--data-dir', path]);
  t.false(run.timedOut, 'the server started on 0.0.0.0 without credentials');
  t.not(run.code, 0);
  t.notRegex(run.stdout, /Rivulet listening/);
  const said = messages(run.stderr);
  t.is(said.length, 1, run.stderr);
  t.regex(said[0]!, /0\.0\.0\.0/);
  t.regex(said[0]!, /--credentials/);
  t.notRegex(run.stderr, /^\s+at /m, 'no stack trace for a user error');
});

test('--tls-cert without --tls-key is refused with one clear line', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const run = await runCli(['server', '--port', '0', '--data-dir', path, '--tls-cert', join(path, 'cert.pem')]);
  t.false(run.timedOut, 'the server started with half a TLS configuration');
  t.not(run.code, 0);
  const said = messages(run.stderr);
  t.is(said.length, 1, run.stderr);
  t.regex(said[0]!, /--tls-cert and --tls-key/);
});

test('a credentials file with a bad field is refused with a message naming the field', async (t) => {
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const cases: { file: unknown; field: RegExp }[] = [
    { file: { accessKeys: [{ accessKeyId: 'AKIDGOOD', secretAccessKey: 'secret' }, { accessKeyId: 'AKIDBAD' }] }, field: /accessKeys\[1\]\.secretAccessKey/ },
    { file: { accessKeys: [{ accessKeyId: 'has space', secretAccessKey: 'secret' }] }, field: /accessKeys\[0\]\.accessKeyId/ },
    { file: { accessKey: [] }, field: /"accessKey"/ },
  ];
  for (const [i, { file, field }] of cases.entries()) {
    const credentials = join(path, `credentials-${i}.json`);
    await writeFile(credentials, JSON.stringify(file));
    const run = await runCli(['server', '--port', '0', '--data-dir', join(path, 'data'), '--credentials', credentials]);
    t.false(run.timedOut, `case ${i}: the server started with a broken credentials file`);
    t.not(run.code, 0, `case ${i}`);
    t.notRegex(run.stdout, /Rivulet listening/);
    const said = messages(run.stderr);
    t.is(said.length, 1, `case ${i}: ${run.stderr}`);
    t.regex(said[0]!, field, `case ${i}`);
    t.true(said[0]!.includes(credentials), `case ${i}: the message names the file: ${said[0]}`);
  }
});

test('a port already in use gives one clear line and a non-zero exit', async (t) => {
  const first = await startServerProcess();
  t.teardown(() => first.kill('SIGKILL'));
  const { path, remove } = await tempDir();
  t.teardown(remove);
  const run = await runCli(['server', '--port', String(first.port), '--data-dir', path]);
  t.false(run.timedOut, 'the second server did not exit');
  t.not(run.code, 0);
  t.notRegex(run.stdout, /Rivulet listening/);
  const said = messages(run.stderr);
  t.is(said.length, 1, run.stderr);
  t.regex(said[0]!, /EADDRINUSE|in use/i);
  t.true(said[0]!.includes(String(first.port)), said[0]);
  t.notRegex(run.stderr, /^\s+at /m, 'no stack trace for a user error');
  // The first server is unharmed.
  const health = await fetch(`${first.url}/health`);
  t.is(health.status, 200);
});

test('--port 0 prints the real bound port', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => server.kill('SIGKILL'));
  t.regex(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(server.port, 0);
  const health = await fetch(`${server.url}/health`);
  t.is(health.status, 200);
});
