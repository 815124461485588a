/**
 * The stub provisions its devices through the operator API, as a factory line would: it registers each
 * device's master key and receives the device's MQTT password once.
 */
import { toBase64 } from '../lib/core/bytes.js';

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

async function call(apiUrl: string, token: string, path: string, body: unknown): Promise<Provisioned> {
  const res = await fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as {
    error?: { code?: string; message?: string };
  } & Partial<Provisioned>;
  if (!res.ok) {
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

/** Registers the device, or, if the backend already knows it but this stub lost its password, rotates it. */
export async function provision(
  apiUrl: string,
  token: string,
  deviceId: string,
  masterKey: Uint8Array,
): Promise<string> {
  try {
    return (await call(apiUrl, token, '/v1/devices', { deviceId, masterKey: toBase64(masterKey) })).mqtt
      .password;
  } catch (e) {
    if (e instanceof ProvisioningError && e.code === 'device-exists') {
      return (await call(apiUrl, token, `/v1/devices/${deviceId}/credentials`, {})).mqtt.password;
    }
    throw e;
  }
}
