/**
 * The operator routes of a device added with signing keys (docs/api.md), against the embedded runtime over
 * real HTTP: provisioning with a key, listing, registering, revoking, allowUnsigned, the completeness
 * document, and gaps up to the latest signed head; and every refusal with its documented status and code,
 * each leaving nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../lib/core/bytes.js';
import { CompletenessDocument, checkCompleteness } from '../../lib/core/completeness.js';
import { signHead } from '../../lib/core/device-head.js';
import { generateSigningKey, type SigningKey, signerOf } from '../../lib/core/device-signature.js';
import type { DeviceKeysView } from '../../lib/devices/device-keys.js';
import { acceptHead } from '../../lib/devices/device-keys.js';
import { operatorFetch, startInProcess } from '../support/runtime.js';
import { TestDevice } from '../support/test-device.js';

type Runtime = Awaited<ReturnType<typeof startInProcess>>;
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('device routes: keys, completeness, gaps', () => {
  let rt: Runtime;
  let api: ReturnType<typeof operatorFetch>;
  const post = <T>(path: string, body: unknown, method = 'POST') =>
    api<T>(path, { method, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    rt = await startInProcess();
    api = operatorFetch(rt.baseUrl, rt.operatorToken);
  });
  afterAll(async () => {
    await rt?.cleanup();
  });

  async function provision(deviceId: string, key?: SigningKey, extra: Record<string, unknown> = {}) {
    return post<{
      allowUnsigned: boolean;
      signingKey?: { keyId: string; alg: string; registeredBy: string };
    }>('/v1/devices', {
      deviceId,
      masterKey: new TestDevice(deviceId).masterKeyBase64,
      ...(key ? { signingKey: { alg: key.alg, publicKey: toBase64(key.publicKey) } } : {}),
      ...extra,
    });
  }
  const expectError = (r: { status: number; body: unknown }, status: number, code: string) => {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect((r.body as ErrorBody).error.code).toBe(code);
  };
  const keysOf = async (deviceId: string) => (await api<DeviceKeysView>(`/v1/devices/${deviceId}/keys`)).body;
  const auditActions = async () =>
    (await api<{ items: { action: string; target: string }[] }>('/v1/audit?limit=1000')).body.items;

  it('provisions with a key: 201, the key active, its register event queued', async () => {
    const key = generateSigningKey('ed25519');
    const r = await provision('api-k1', key);
    expect(r.status).toBe(201);
    expect(r.body.allowUnsigned).toBe(false);
    expect(r.body.signingKey).toMatchObject({ keyId: toHex(key.keyId), alg: 'ed25519' });
    const view = await keysOf('api-k1');
    expect(view.keys).toEqual([
      expect.objectContaining({
        keyId: toHex(key.keyId),
        status: 'active',
        publicKey: toBase64(key.publicKey),
      }),
    ]);
    expect(view.keyEvents).toEqual([
      expect.objectContaining({ type: 'register', keyId: toHex(key.keyId), anchoring: 'queued' }),
    ]);
    // After an anchor cycle the event is in a final batch.
    await rt.anchorNow();
    const after = await keysOf('api-k1');
    expect(after.keyEvents[0]).toMatchObject({
      anchoring: 'final',
      batch: { leafIndex: expect.any(Number) },
    });
  });

  it('refuses bad provisioning bodies with 400 and creates nothing', async () => {
    const key = generateSigningKey('p256');
    const bad: [unknown, string][] = [
      [
        {
          deviceId: 'api-b1',
          masterKey: toBase64(new Uint8Array(32)),
          signingKey: { alg: 'rsa', publicKey: 'AA==' },
        },
        'alg',
      ],
      [
        {
          deviceId: 'api-b1',
          masterKey: toBase64(new Uint8Array(32)),
          signingKey: { alg: 'p256', publicKey: '**' },
        },
        'base64',
      ],
      [
        {
          deviceId: 'api-b1',
          masterKey: toBase64(new Uint8Array(32)),
          signingKey: { alg: 'p256', publicKey: toBase64(new Uint8Array(33)) },
        },
        'publicKey',
      ],
      [
        {
          deviceId: 'api-b1',
          masterKey: toBase64(new Uint8Array(32)),
          signingKey: { alg: 'p256', publicKey: toBase64(key.publicKey), extra: 1 },
        },
        'extra',
      ],
      [
        { deviceId: 'api-b1', masterKey: toBase64(new Uint8Array(32)), allowUnsigned: 'yes' },
        'allowUnsigned',
      ],
    ];
    for (const [body, mention] of bad) {
      const r = await post<ErrorBody>('/v1/devices', body);
      expectError(r, 400, 'bad-request');
      expect(r.body.error.message).toContain(mention);
    }
    expectError(await api('/v1/devices/api-b1/keys'), 404, 'device-not-found');
  });

  it('registers and revokes keys, each audited; refusals name the reason', async () => {
    const first = generateSigningKey('ed25519');
    await provision('api-k2', first);
    const second = generateSigningKey('p256');
    const reg = await post<{ key: { keyId: string; status: string } }>('/v1/devices/api-k2/keys', {
      alg: 'p256',
      publicKey: toBase64(second.publicKey),
      reason: 'device replaced its key',
    });
    expect(reg.status).toBe(201);
    expect(reg.body.key).toMatchObject({ keyId: toHex(second.keyId), status: 'active' });
    expectError(
      await post('/v1/devices/api-k2/keys', {
        alg: 'p256',
        publicKey: toBase64(second.publicKey),
        reason: 'again',
      }),
      409,
      'key-exists',
    );
    const firstId = toHex(first.keyId);
    const rev = await post<{ key: { status: string; revokedBy: { reason: string } } }>(
      `/v1/devices/api-k2/keys/${firstId}/revoke`,
      { reason: 'leaked in a support ticket', code: 'compromised' },
    );
    expect(rev.status).toBe(200);
    expect(rev.body.key).toMatchObject({ status: 'revoked', revokedBy: { reason: 'compromised' } });
    const again = await post<ErrorBody>(`/v1/devices/api-k2/keys/${firstId}/revoke`, {
      reason: 'twice over',
    });
    expectError(again, 409, 'key-revoked');
    expect(again.body.error.details?.revokedBy).toMatchObject({ type: 'revoke' });
    expectError(
      await post(`/v1/devices/api-k2/keys/${'ab'.repeat(32)}/revoke`, { reason: 'no such key' }),
      404,
      'key-not-found',
    );
    expectError(await post('/v1/devices/api-k2/keys/ABC/revoke', { reason: 'bad id' }), 400, 'bad-request');
    expectError(
      await post(`/v1/devices/api-k2/keys/${toHex(second.keyId)}/revoke`, { reason: 'x' }),
      400,
      'bad-request',
    );
    expectError(
      await post(`/v1/devices/api-k2/keys/${toHex(second.keyId)}/revoke`, { reason: 'fine', code: 'stolen' }),
      400,
      'bad-request',
    );
    expectError(
      await post(`/v1/devices/nobody/keys/${toHex(second.keyId)}/revoke`, { reason: 'no device' }),
      404,
      'device-not-found',
    );
    expectError(
      await post('/v1/devices/nobody/keys', {
        alg: 'ed25519',
        publicKey: toBase64(first.publicKey),
        reason: 'none',
      }),
      404,
      'device-not-found',
    );
    expectError(
      await post('/v1/devices/api-k2/keys', { alg: 'ed25519', reason: 'no key' }),
      400,
      'bad-request',
    );
    expectError(await post('/v1/devices/api-k2/keys', 'not json'), 400, 'bad-request');
    expectError(await post('/v1/devices/bad.id/keys', { alg: 'ed25519' }), 400, 'bad-request');
    const view = await keysOf('api-k2');
    expect(view.keys.map((k) => k.status)).toEqual(['revoked', 'active']);
    expect(view.keyEvents.map((e) => e.type)).toEqual(['register', 'register', 'revoke']);
    const actions = await auditActions();
    expect(
      actions
        .filter((a) => a.target.startsWith('api-k2/keys/'))
        .map((a) => a.action)
        .sort(),
    ).toEqual(['device-key-registered', 'device-key-registered', 'device-key-revoked']);
  });

  it('PATCH sets allowUnsigned (audited) and refuses anything else', async () => {
    await provision('api-k3');
    const r = await post<{ allowUnsigned: boolean }>('/v1/devices/api-k3', { allowUnsigned: false }, 'PATCH');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ deviceId: 'api-k3', status: 'active', allowUnsigned: false });
    expect((await keysOf('api-k3')).allowUnsigned).toBe(false);
    expectError(await post('/v1/devices/api-k3', { allowUnsigned: 'no' }, 'PATCH'), 400, 'bad-request');
    expectError(await post('/v1/devices/api-k3', { status: 'disabled' }, 'PATCH'), 400, 'bad-request');
    expectError(await post('/v1/devices/nobody', { allowUnsigned: true }, 'PATCH'), 404, 'device-not-found');
    expect((await auditActions()).some((a) => a.action === 'device-updated' && a.target === 'api-k3')).toBe(
      true,
    );
  });

  it('completeness: a compact self-contained document, and every refusal of a bad range', async () => {
    const key = generateSigningKey('ed25519');
    await provision('api-c', key);
    const bytes = signHead(
      { deviceId: 'api-c', count: 0, lastHash: new Uint8Array(32), time: Date.now() - 1000 },
      signerOf(key),
    ).bytes;
    await acceptHead(
      { devices: rt.index, statements: rt.statements, clock: Date.now, maxClockSkewMs: 60_000 },
      { deviceId: 'api-c', bytes },
    );
    await rt.anchorNow();
    const res = await fetch(`${rt.baseUrl}/v1/devices/api-c/completeness`, {
      headers: { authorization: `Bearer ${rt.operatorToken}` },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    // Compact: no insignificant whitespace, so every byte of it is significant.
    expect(text).not.toMatch(/\s/);
    const doc = CompletenessDocument.parse(JSON.parse(text));
    expect(doc).toMatchObject({ deviceId: 'api-c', range: { fromSeq: 0, toSeq: -1 }, records: [] });
    expect(doc.head?.batchId).toBeDefined();
    const c = checkCompleteness(doc, { trustedDeviceKeys: [{ keyId: toHex(key.keyId) }] });
    expect(c.outcome).toBe('complete');

    const q = (query: string) => api<ErrorBody>(`/v1/devices/api-c/completeness?${query}`);
    const wide = await q('fromSeq=0&toSeq=10000');
    expectError(wide, 400, 'range-too-wide');
    expect(wide.body.error.details).toMatchObject({ max: 10000 });
    expectError(await q('fromSeq=5&toSeq=4'), 400, 'bad-request');
    expectError(await q('fromSeq=-1'), 400, 'bad-request');
    expectError(await q('toSeq=abc'), 400, 'bad-request');
    expectError(await q('fromSeq=0&from=0'), 400, 'bad-request');
    expectError(await q('from=2000&to=1000'), 400, 'bad-request');
    expectError(await q('from=yesterday'), 400, 'bad-request');
    expectError(await q('seq=1'), 400, 'bad-request');
    expectError(await q('from=1000&to=2000'), 404, 'not-found');
    expectError(await api('/v1/devices/nobody/completeness'), 404, 'device-not-found');
    expectError(await api('/v1/devices/bad.id/completeness'), 400, 'bad-request');
  });

  it('gaps runs up to the latest signed head by default, and says whether its last record matches', async () => {
    const key = generateSigningKey('ed25519');
    await provision('api-g', key);
    // The device says it sealed 5 records; the backend has none.
    const lastHash = new Uint8Array(32).fill(9);
    const bytes = signHead(
      { deviceId: 'api-g', count: 5, lastHash, time: Date.now() - 1000 },
      signerOf(key),
    ).bytes;
    const out = await acceptHead(
      { devices: rt.index, statements: rt.statements, clock: Date.now, maxClockSkewMs: 60_000 },
      { deviceId: 'api-g', bytes },
    );
    expect(out.status).toBe('stored');
    const r = await api<{ toSeq: number; gaps: unknown[]; head: Record<string, unknown> }>(
      '/v1/devices/api-g/gaps',
    );
    expect(r.status).toBe(200);
    expect(r.body.toSeq).toBe(4);
    expect(r.body.gaps).toEqual([{ kind: 'not-received', fromSeq: 0, toSeq: 4 }]);
    expect(r.body.head).toMatchObject({ count: 5, lastHash: toHex(lastHash), lastRecord: 'missing' });
    expectError(await api('/v1/devices/api-g/gaps?toSeq=-1'), 400, 'bad-request');
    expectError(await api('/v1/devices/api-g/gaps?fromSeq=x'), 400, 'bad-request');
  });
});
