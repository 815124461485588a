/**
 * The device routes' path parameters (lib/api/api-app.ts, checked by Hono's validator before each handler):
 * a device id or key id that is not one is answered 400 `bad-request` with what a valid one looks like, on
 * every route that takes one, before anything is looked up or parsed (a route's body is not read).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, type ApiCall, openApiApp } from '../support/api-app.js';

interface ApiError {
  error: { code: string; message: string };
}

const DEVICE_ID_MESSAGE = 'deviceId must be 1-64 characters of [A-Za-z0-9_-]';
const KEY_ID_MESSAGE = 'keyId must be 64 lowercase hex digits';
const BAD_DEVICE = 'd'.repeat(65);
const KEY = 'ab'.repeat(32);

/** Every route with a device in its path, with a body that is not JSON: the parameter must be refused first. */
const ROUTES: [method: string, path: (deviceId: string) => string][] = [
  ['PATCH', (d) => `/v1/devices/${d}`],
  ['GET', (d) => `/v1/devices/${d}/keys`],
  ['POST', (d) => `/v1/devices/${d}/keys`],
  ['POST', (d) => `/v1/devices/${d}/keys/${KEY}/revoke`],
  ['POST', (d) => `/v1/devices/${d}/certificate`],
  ['DELETE', (d) => `/v1/devices/${d}/certificate`],
  ['POST', (d) => `/v1/devices/${d}/credentials`],
  ['GET', (d) => `/v1/devices/${d}/records`],
  ['GET', (d) => `/v1/devices/${d}/gaps`],
  ['GET', (d) => `/v1/devices/${d}/completeness`],
  ['GET', (d) => `/v1/devices/${d}/export`],
  ['POST', (d) => `/v1/devices/${d}/key-release`],
];

describe('device route path parameters', () => {
  let rt: ApiApp;
  let api: ApiCall;

  beforeAll(async () => {
    rt = await openApiApp();
    api = rt.as(rt.operatorToken);
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('answers a device id that is not one with 400 bad-request on every device route', async () => {
    for (const [method, path] of ROUTES) {
      const init = method === 'GET' || method === 'DELETE' ? { method } : { method, body: 'not json' };
      const r = await api<ApiError>(path(BAD_DEVICE), init);
      expect({ route: `${method} ${path(':id')}`, status: r.status, body: r.body }).toEqual({
        route: `${method} ${path(':id')}`,
        status: 400,
        body: { error: { code: 'bad-request', message: DEVICE_ID_MESSAGE } },
      });
    }
  });

  it('answers a key id that is not 64 lowercase hex digits with 400 bad-request, the device id checked first', async () => {
    for (const keyId of ['AB'.repeat(32), 'ab'.repeat(31), 'zz'.repeat(32)]) {
      const r = await api<ApiError>(`/v1/devices/dev-1/keys/${keyId}/revoke`, { method: 'POST', body: '{}' });
      expect({ status: r.status, body: r.body }).toEqual({
        status: 400,
        body: { error: { code: 'bad-request', message: KEY_ID_MESSAGE } },
      });
    }
    const both = await api<ApiError>(`/v1/devices/${BAD_DEVICE}/keys/nope/revoke`, { method: 'POST' });
    expect(both.body.error.message).toBe(DEVICE_ID_MESSAGE);
  });

  it('passes a valid device id through to the route: an unknown device is the use case’s answer, not 400', async () => {
    const r = await api<ApiError>('/v1/devices/no-such-device/keys');
    expect(r.status).toBe(404);
  });
});
