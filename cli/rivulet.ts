#!/usr/bin/env node
import { Command } from 'commander';
import { agentCommand } from './agent-command.js';
import { clusterCommand } from './cluster-command.js';
import { demoCommand } from './demo-command.js';
import { devicesCommand } from './devices-command.js';
import { runProgram, VERSION } from './run-program.js';
import { serverCommand } from './server-command.js';
import { simCommand } from './sim-command.js';

const program = new Command('rivulet')
  .description('Self-hosted streaming for the edge: a Kinesis-compatible ingest server and the device agent that feeds it.')
  .version(VERSION)
  .showHelpAfterError()
  // Options belong to the command they follow: `agent install --config` is install's, not agent's.
  .enablePositionalOptions()
  .addCommand(serverCommand())
  .addCommand(demoCommand())
  .addCommand(simCommand())
  .addCommand(agentCommand())
  .addCommand(clusterCommand())
  .addCommand(devicesCommand());

runProgram(program, 'rivulet');
