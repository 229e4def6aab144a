// Access keys to principals: the server's --credentials file holds the admin keys, the device key
// store the devices' ones. The SigV4 verifier and the MQTT broker both look keys up here, so a
// revoked device stops resolving for both at the same moment.

import { verifySigV4, type SignedRequest, type VerifiedIdentity } from '../auth/sigv4.js';
import type { Principal } from './authorization.js';
import type { DeviceKeyStore } from './device-keys.js';

/** A key the server accepts: its secret and whose it is. */
export interface ResolvedKey {
  secretAccessKey: string;
  principal: Principal;
}

/** Looks an access key id up; undefined for unknown and revoked keys. */
export type KeyResolver = (accessKeyId: string) => ResolvedKey | undefined;

/** Resolves admin keys first, then active device keys. */
export function keyResolver(adminKeys: Map<string, string>, devices: DeviceKeyStore): KeyResolver {
  return (accessKeyId) => {
    const admin = adminKeys.get(accessKeyId);
    if (admin !== undefined) return { secretAccessKey: admin, principal: { kind: 'admin', accessKeyId } };
    const key = devices.keyFor(accessKeyId);
    return key && { secretAccessKey: key.secretAccessKey, principal: { kind: 'device', accessKeyId, device: key.device } };
  };
}

/** A verified request: the signature's scope and who signed it. */
export interface Authenticated extends VerifiedIdentity {
  principal: Principal;
}

/** Verifies a request's SigV4 signature against the keys `resolve` knows; throws the protocol's ServiceError. */
export function verifyPrincipal(request: SignedRequest, resolve: KeyResolver, nowMs: number): Authenticated {
  let resolved: ResolvedKey | undefined;
  const identity = verifySigV4(request, (accessKeyId) => (resolved = resolve(accessKeyId))?.secretAccessKey, nowMs);
  return { ...identity, principal: resolved!.principal };
}
