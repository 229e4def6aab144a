import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Input } from '../protocol/input.js';
import { ServerOptionsError } from '../server-options-error.js';
import { channelNamedBy } from './channels.js';
import type { SignalingContext } from './context.js';

// The STUN and TURN servers peers are told to use (--ice-servers <file>). TURN credentials are
// minted per request the way coturn's REST API (use-auth-secret) checks them: the username is
// "<expiry epoch seconds>:<client id>" and the password base64(HMAC-SHA1(secret, username)),
// so coturn needs only the shared secret and no list of users.

/** The operator's ICE configuration, as the --ice-servers file gives it. */
export interface IceServers {
  stun: string[];
  turn: { uris: string[]; secret: string }[];
}

/** How long minted TURN credentials stay valid, as AWS's (seconds). */
const TTL_SECONDS = 300;
const CLIENT_ID = { min: 1, max: 256, pattern: /[a-zA-Z0-9_.-]+/ };
/** Who a credential is minted for when GetIceServerConfig names no ClientId (the master). */
const MASTER_CLIENT_ID = 'MASTER';

/** No STUN, no TURN: peers on one network still connect through host candidates. */
export const NO_ICE_SERVERS: IceServers = { stun: [], turn: [] };

/** Reads and checks an --ice-servers file: {"stun":["stun:host:3478"],"turn":[{"uris":["turn:host:3478"],"secret":"…"}]}. */
export async function loadIceServers(file: string): Promise<IceServers> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ServerOptionsError(`--ice-servers ${file}: ${(error as Error).message}`);
  }
  const { stun = [], turn = [] } = (value ?? {}) as { stun?: unknown; turn?: unknown };
  const isUriList = (uris: unknown, scheme: RegExp) => Array.isArray(uris) && uris.length > 0 && uris.every((uri) => typeof uri === 'string' && scheme.test(uri));
  if (!Array.isArray(stun) || (stun.length > 0 && !isUriList(stun, /^stuns?:/))) throw new ServerOptionsError(`--ice-servers ${file}: "stun" must be a list of stun: URIs.`);
  if (!Array.isArray(turn) || !turn.every((server) => isUriList(server?.uris, /^turns?:/) && typeof server.secret === 'string' && server.secret !== '')) {
    throw new ServerOptionsError(`--ice-servers ${file}: "turn" must be a list of {"uris":["turn:…"],"secret":"…"}.`);
  }
  return { stun, turn: turn.map((server: { uris: string[]; secret: string }) => ({ uris: server.uris, secret: server.secret })) };
}

/** A coturn REST API credential for a client, valid until expirySeconds. */
export function turnCredential(secret: string, clientId: string, expirySeconds: number): { username: string; password: string } {
  const username = `${expirySeconds}:${clientId}`;
  return { username, password: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * GetIceServerConfig: every TURN server with fresh credentials, then the STUN servers (AWS lists
 * TURN only, its STUN address being well known; ours is the operator's, so it is listed too).
 */
export async function getIceServerConfig(ctx: SignalingContext, input: Input): Promise<object> {
  await channelNamedBy(ctx, input);
  const clientId = input.string('ClientId', CLIENT_ID) ?? MASTER_CLIENT_ID;
  input.enumeration('Service', ['TURN']);
  const expiry = Math.floor(ctx.now() / 1000) + TTL_SECONDS;
  return {
    IceServerList: [
      ...ctx.ice.turn.map((server) => {
        const { username, password } = turnCredential(server.secret, clientId, expiry);
        return { Uris: server.uris, Username: username, Password: password, Ttl: TTL_SECONDS };
      }),
      ...(ctx.ice.stun.length > 0 ? [{ Uris: ctx.ice.stun, Ttl: TTL_SECONDS }] : []),
    ],
  };
}
