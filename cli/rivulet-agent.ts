#!/usr/bin/env -S UV_THREADPOOL_SIZE=16 node --lite-mode --no-expose-wasm --max-semi-space-size=1
// `rivulet-agent`: `rivulet agent` as a device runs it. The agent's input is a few serial lines
// (at most ~11.5 KB/s each at 115200 baud) and its heavy lifting is SQLite's, so V8's optimising
// compilers and a large young generation buy it nothing but memory. Lite mode (interpreter only,
// lazily allocated feedback; without a JIT there is no WebAssembly, and saying so spares a
// warning at every start) and 1 MiB semi-spaces keep it within 60 MB with four sources, while it
// still buffers ~65,000 and drains ~40,000 readings/s (bench/agent).
// Each running camera holds one libuv pool thread in its appsink pull, and SQLite and fs need the
// rest: 16 threads (libuv's default is 4) leave room for a dozen cameras. It must be in the
// environment before node starts, hence here.

import { agentCommand } from './agent-command.js';
import { runProgram, VERSION } from './run-program.js';

runProgram(agentCommand().name('rivulet-agent').version(VERSION).showHelpAfterError(), 'rivulet-agent');
