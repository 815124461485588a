/**
 * The stub provisions its devices through the operator API, as a factory line would: it registers each
 * device's master key and receives the device's MQTT password once.
 */
import { toBase64 } from '../lib/core/bytes.js';
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

async function call(
  apiUrl: string,
  token: string,
  path: string,
  body: unknown,
  ca: string | undefined,
): Promise<Provisioned> {
  const res = await sendHttp(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(ca ? { ca } : {}),
  });
  let json: { error?: { code?: string; message?: string } } & Partial<Provisioned> = {};
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
  if (!json.mqtt?.password)
    throw new ProvisioningError(res.status, 'bad-response', `no password in the response from ${path}`);
  return json as Provisioned;
}

/**
 * Registers the device, or, if the backend already knows it but this stub lost its password, rotates it.
 * `ca` is the API's CA (PEM) when it serves HTTPS under a CA of its own.
 */
export async function provision(
  apiUrl: string,
  token: string,
  deviceId: string,
  masterKey: Uint8Array,
  ca?: string,
): Promise<string> {
  try {
    return (await call(apiUrl, token, '/v1/devices', { deviceId, masterKey: toBase64(masterKey) }, ca)).mqtt
      .password;
  } catch (e) {
    if (e instanceof ProvisioningError && e.code === 'device-exists') {
      return (await call(apiUrl, token, `/v1/devices/${deviceId}/credentials`, {}, ca)).mqtt.password;
    }
    throw e;
  }
}
