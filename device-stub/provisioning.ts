/**
 * The stub provisions its devices through the operator API, as a factory line would: it registers each
 * device's master key and the public half of the signing key the device made itself, and receives the device's
 * MQTT password once. The private signing key never leaves the device (device-stub/signing-key-store.ts).
 */
import { toBase64 } from '../lib/core/bytes.js';
import type { SigAlg } from '../lib/core/device-signature.js';
import { sendHttp } from './http.js';

export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Provisioned {
  deviceId: string;
  mqtt: { password: string };
}

async function post<T>(
  apiUrl: string,
  token: string,
  path: string,
  body: unknown,
  ca: string | undefined,
): Promise<{ status: number; json: Partial<T> }> {
  const res = await sendHttp(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(ca ? { ca } : {}),
  });
  let json: { error?: { code?: string; message?: string } } & Partial<T> = {};
  try {
    json = JSON.parse(res.body.toString('utf8')) as typeof json;
  } catch {
    // Not JSON: reported by status below.
  }
  if (res.status < 200 || res.status > 299) {
    throw new ProvisioningError(
      res.status,
      json.error?.code ?? 'http-error',
      json.error?.message ?? `HTTP ${res.status} from ${path}`,
    );
  }
  return { status: res.status, json };
}

async function call(
  apiUrl: string,
  token: string,
  path: string,
  body: unknown,
  ca: string | undefined,
): Promise<Provisioned> {
  const { status, json } = await post<Provisioned>(apiUrl, token, path, body, ca);
  if (!json.mqtt?.password)
    throw new ProvisioningError(status, 'bad-response', `no password in the response from ${path}`);
  return json as Provisioned;
}

/** The public half of a device's signing key, as the operator API takes it. */
export interface PublicSigningKey {
  alg: SigAlg;
  publicKey: Uint8Array;
}

/**
 * Registers the device (with its signing key's public half, if it has one), or, if the backend already knows
 * it but this stub lost its password, rotates the password. `keyRegistered` says whether the signing key is
 * known to the backend now; after a password rotation it is not known from this call, and the caller registers
 * it (registerSigningKey). `ca` is the API's CA (PEM) when it serves HTTPS under a CA of its own.
 */
export async function provision(
  apiUrl: string,
  token: string,
  deviceId: string,
  masterKey: Uint8Array,
  opts: { signingKey?: PublicSigningKey | undefined; ca?: string | undefined } = {},
): Promise<{ password: string; keyRegistered: boolean }> {
  const { signingKey, ca } = opts;
  try {
    const body = {
      deviceId,
      masterKey: toBase64(masterKey),
      ...(signingKey
        ? { signingKey: { alg: signingKey.alg, publicKey: toBase64(signingKey.publicKey) } }
        : {}),
    };
    const res = await call(apiUrl, token, '/v1/devices', body, ca);
    return { password: res.mqtt.password, keyRegistered: signingKey !== undefined };
  } catch (e) {
    if (e instanceof ProvisioningError && e.code === 'device-exists') {
      const res = await call(apiUrl, token, `/v1/devices/${deviceId}/credentials`, {}, ca);
      return { password: res.mqtt.password, keyRegistered: false };
    }
    throw e;
  }
}

/**
 * Registers a signing key for a device the backend already has (one provisioned before it had a key, or whose
 * registration was interrupted). A key the backend already holds for this device counts as registered.
 */
export async function registerSigningKey(
  apiUrl: string,
  token: string,
  deviceId: string,
  key: PublicSigningKey,
  ca?: string,
): Promise<void> {
  try {
    await post(
      apiUrl,
      token,
      `/v1/devices/${deviceId}/keys`,
      {
        alg: key.alg,
        publicKey: toBase64(key.publicKey),
        reason: 'device stub: a key the device made itself',
      },
      ca,
    );
  } catch (e) {
    if (e instanceof ProvisioningError && e.code === 'key-exists') return;
    throw e;
  }
}
