import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { Logger, isLogLevel, type LogLevel } from '../lib/log.js';
import { ServerOptionsError } from '../ingest-server/server-options-error.js';
import type { ServerOptions } from '../ingest-server/server.js';
import type { NatsStoreOptions } from '../ingest-server/storage/nats/connection.js';
import { stopOnSignals } from './signals.js';

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535.');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be a whole number of 0 or more.');
  return parsed;
}

/** Where streams live, from --store: the embedded store, or the NATS servers to reach JetStream through. */
export type StoreChoice = { kind: 'sqlite' } | { kind: 'nats'; servers: string[] };

/** Parses --store: `sqlite`, or comma-separated nats://host:port URLs of one cluster. */
export function storeChoice(value: string): StoreChoice {
  if (value === 'sqlite') return { kind: 'sqlite' };
  const servers = value.split(',').map((each) => each.trim()).filter((each) => each !== '');
  for (const server of servers) {
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {
      // Reported below with the expected shape.
    }
    if (url?.protocol !== 'nats:' || !url.hostname) throw new InvalidArgumentError(`must be sqlite or nats://host:port[,nats://host:port…]; got ${server}.`);
  }
  if (servers.length === 0) throw new InvalidArgumentError('must be sqlite or nats://host:port[,nats://host:port…].');
  return { kind: 'nats', servers };
}

function replicas(value: string): number {
  const parsed = Number(value);
  // JetStream allows up to 5 copies; an even count adds a copy without adding a tolerated failure.
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 5) throw new InvalidArgumentError('must be a whole number from 1 to 5 (3 survives the loss of one NATS node).');
  return parsed;
}

function logLevel(value: string): LogLevel {
  if (!isLogLevel(value)) throw new InvalidArgumentError('must be one of debug, info, warn, error.');
  return value;
}

export interface ServerCommandOptions {
  port: number;
  host: string;
  dataDir: string;
  credentials?: string;
  tlsCert?: string;
  tlsKey?: string;
  encryptionKeys?: string;
  enforceThroughput?: boolean;
  shardLimit: number;
  stateChangeMs: number;
  region: string;
  accountId: string;
  mqttPort?: number;
  mqttConfig?: string;
  iceServers?: string;
  store: StoreChoice;
  replicas: number;
  logLevel: LogLevel;
}

/** Adds the options `rivulet server` and `rivulet demo` share. */
export function withServerOptions(command: Command): Command {
  return command
    .addOption(new Option('-p, --port <port>', 'port for HTTP/1.1 and HTTP/2 (h2c, or h2 with TLS)').default(4567).argParser(port))
    .addOption(new Option('--host <address>', 'address to listen on; anything but loopback needs --credentials').default('127.0.0.1'))
    .addOption(new Option('-d, --data-dir <dir>', 'where streams and records are stored').default('./.rivulet/data'))
    .addOption(new Option('--credentials <file>', 'JSON file of SigV4 access keys: {"accessKeys":[{"accessKeyId":"…","secretAccessKey":"…"}]}'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate; serves HTTPS with ALPN h2 and http/1.1'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert'))
    .addOption(new Option('--encryption-keys <file>', 'JSON file of keys for StartStreamEncryption: {"keys":[{"keyId":"alias/x","key":"<32 bytes hex or base64>"}]}'))
    .addOption(new Option('--enforce-throughput', "enforce AWS's quotas: per shard 1 MiB/s and 1000 records/s in, 2 MiB/s and 5 calls/s out; per video stream 5 PutMedia connections/s, 5 fragments/s and 12.5 MB/s in, 25 MB/s out"))
    .addOption(new Option('--shard-limit <count>', 'open shards allowed across all streams').default(500).argParser(positiveInteger))
    .addOption(new Option('--state-change-ms <ms>', 'how long streams stay CREATING/UPDATING after a change').default(0).argParser(positiveInteger))
    .addOption(new Option('--region <region>', 'region used in ARNs').default('us-east-1'))
    .addOption(new Option('--account-id <id>', 'account id used in ARNs and messages').default('000000000000'))
    .addOption(new Option('--mqtt-port <port>', 'port for the MQTT 3.1.1 broker (TLS with --tls-cert); stores what --mqtt-config routes').argParser(port))
    .addOption(new Option('--mqtt-config <file>', 'JSON file of MQTT routes: {"routes":[{"topic":"meters/+/reading","stream":"meters","partitionKey":"{2}"}]}'))
    .addOption(new Option('--ice-servers <file>', 'JSON file of STUN/TURN servers for WebRTC peers: {"stun":["stun:host:3478"],"turn":[{"uris":["turn:host:3478"],"secret":"<coturn static-auth-secret>"}]}'))
    .addOption(new Option('--store <url>', 'sqlite (embedded, under --data-dir), or nats://host:port,… to keep streams on a NATS JetStream cluster shared by several servers').default(storeChoice('sqlite'), 'sqlite').argParser(storeChoice))
    .addOption(new Option('--replicas <n>', 'copies JetStream keeps of each stream with --store nats://… (1 for a single NATS node)').default(3).argParser(replicas))
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error').default('info').argParser(logLevel));
}

/** Builds startServer's options from the command line; fails on half-given TLS or MQTT. */
export function serverOptionsFrom(options: ServerCommandOptions, log: Logger): ServerOptions {
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) throw new ServerOptionsError('--tls-cert and --tls-key go together.');
  if ((options.mqttPort === undefined) !== (options.mqttConfig === undefined)) throw new ServerOptionsError('--mqtt-port and --mqtt-config go together.');
  return {
    host: options.host,
    port: options.port,
    dataDir: resolve(options.dataDir),
    ...(options.credentials ? { credentialsFile: resolve(options.credentials) } : {}),
    ...(options.tlsCert && options.tlsKey ? { tls: { certFile: resolve(options.tlsCert), keyFile: resolve(options.tlsKey) } } : {}),
    ...(options.encryptionKeys ? { encryptionKeysFile: resolve(options.encryptionKeys) } : {}),
    ...(options.mqttPort !== undefined ? { mqttPort: options.mqttPort } : {}),
    ...(options.mqttConfig ? { mqttConfigFile: resolve(options.mqttConfig) } : {}),
    ...(options.iceServers ? { iceServersFile: resolve(options.iceServers) } : {}),
    ...(options.store.kind === 'nats' ? { natsStore: { servers: options.store.servers, replicas: options.replicas } satisfies NatsStoreOptions } : {}),
    enforceThroughput: Boolean(options.enforceThroughput),
    settings: { shardLimit: options.shardLimit, stateChangeMs: options.stateChangeMs, region: options.region, accountId: options.accountId },
    log,
  };
}

export function serverCommand(): Command {
  return withServerOptions(new Command('server').description('run the ingest server: Kinesis Data Streams and Video Streams APIs, WebRTC signaling, MQTT broker, web console')).action(async (options: ServerCommandOptions) => {
    const log = new Logger(options.logLevel, { component: 'server' });
    // Loaded here, not at the top: `rivulet agent` shares this CLI and should not carry the server.
    const { startServer } = await import('../ingest-server/server.js');
    const server = await startServer(serverOptionsFrom(options, log));
    stopOnSignals(() => server.close(), log);
    if (server.mqttPort !== undefined) {
      const { protocol, hostname } = new URL(server.url);
      process.stdout.write(`MQTT broker listening on ${protocol === 'https:' ? 'mqtts' : 'mqtt'}://${hostname}:${server.mqttPort}\n`);
    }
    process.stdout.write(`Rivulet listening on ${server.url}\n`);
  });
}
