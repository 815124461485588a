/**
 * The pure access decision (lib/access/scope.ts, lib/access/route-access.ts): roles, permissions, device
 * patterns, the time window, and the route allow-list.
 */
import { describe, expect, it } from 'vitest';
import { accessFor } from '../../lib/access/route-access.js';
import {
  type AuditorPrincipal,
  assertRecordVisible,
  authorize,
  deviceInScope,
  isDevicePattern,
  type Principal,
  scopeProblem,
  timeInScope,
  timeRangeFor,
} from '../../lib/access/scope.js';
import { NotaryError } from '../../lib/core/errors.js';

const auditor = (over: Partial<AuditorPrincipal> = {}): AuditorPrincipal => ({
  role: 'auditor',
  actor: 'auditor:tok-1',
  tokenId: 'tok-1',
  scope: { devices: ['sensor-001', 'plant-a-*'] },
  permissions: ['read'],
  expiresAt: 10_000,
  ...over,
});
const operator: Principal = { role: 'operator', actor: 'operator' };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof NotaryError ? e.code : 'not-a-notary-error';
  }
}

describe('device patterns', () => {
  it('matches exact ids and prefixes, nothing else', () => {
    const s = { devices: ['sensor-001', 'plant-a-*'] };
    expect(deviceInScope(s, 'sensor-001')).toBe(true);
    expect(deviceInScope(s, 'sensor-0010')).toBe(false);
    expect(deviceInScope(s, 'sensor-00')).toBe(false);
    expect(deviceInScope(s, 'plant-a-7')).toBe(true);
    expect(deviceInScope(s, 'plant-a-')).toBe(true);
    expect(deviceInScope(s, 'plant-b-7')).toBe(false);
    expect(deviceInScope(s, 'plant-a')).toBe(false);
  });

  it('accepts ids and non-empty prefixes, refuses bare or inner wildcards', () => {
    expect(isDevicePattern('a')).toBe(true);
    expect(isDevicePattern('a*')).toBe(true);
    expect(isDevicePattern('*')).toBe(false);
    expect(isDevicePattern('a*b')).toBe(false);
    expect(isDevicePattern('a.b')).toBe(false);
    expect(isDevicePattern('x'.repeat(64))).toBe(true);
    expect(isDevicePattern(`${'x'.repeat(64)}*`)).toBe(false);
    expect(scopeProblem({ devices: [] })).toMatch(/at least one/);
    expect(scopeProblem({ devices: ['*'] })).toMatch(/neither a device id/);
    expect(scopeProblem({ devices: ['a'], from: 5, to: 5 })).toMatch(/later than from/);
    expect(scopeProblem({ devices: ['a'], from: 5, to: 6 })).toBeUndefined();
  });
});

describe('authorize', () => {
  it('lets the operator do everything', () => {
    for (const req of [
      { kind: 'operator' as const },
      { kind: 'public' as const },
      { kind: 'key-release' as const, deviceId: 'anything' },
    ])
      expect(authorize(operator, req)).toEqual({ allowed: true });
  });

  it('refuses operator routes to auditors with forbidden, whatever device they name', () => {
    expect(authorize(auditor(), { kind: 'operator' })).toMatchObject({ allowed: false, code: 'forbidden' });
    expect(authorize(auditor(), { kind: 'public' })).toEqual({ allowed: true });
  });

  it('checks the permission before the scope, and the scope on the device id', () => {
    expect(authorize(auditor(), { kind: 'device-read', deviceId: 'plant-a-9' })).toEqual({ allowed: true });
    expect(authorize(auditor(), { kind: 'device-read', deviceId: 'plant-b-9' })).toMatchObject({
      allowed: false,
      code: 'out-of-scope',
    });
    expect(authorize(auditor(), { kind: 'key-release', deviceId: 'sensor-001' })).toMatchObject({
      allowed: false,
      code: 'forbidden',
      message: 'this token lacks the key-release permission',
    });
    const releaser = auditor({ permissions: ['read', 'key-release'] });
    expect(authorize(releaser, { kind: 'key-release', deviceId: 'sensor-001' })).toEqual({ allowed: true });
    expect(authorize(releaser, { kind: 'key-release', deviceId: 'other' })).toMatchObject({
      code: 'out-of-scope',
    });
  });
});

describe('the time window', () => {
  const windowed = auditor({ scope: { devices: ['sensor-001'], from: 1000, to: 2000 } });

  it('is half-open: from included, to excluded', () => {
    expect(timeInScope(windowed.scope, 999)).toBe(false);
    expect(timeInScope(windowed.scope, 1000)).toBe(true);
    expect(timeInScope(windowed.scope, 1999)).toBe(true);
    expect(timeInScope(windowed.scope, 2000)).toBe(false);
  });

  it('answers a missing record like one outside the window, for a token with a window only', () => {
    const outside = codeOf(() => assertRecordVisible(windowed, { timestamp: 2000 }));
    const missing = codeOf(() => assertRecordVisible(windowed, undefined));
    expect(outside).toBe('out-of-scope');
    expect(missing).toBe(outside);
    expect(codeOf(() => assertRecordVisible(windowed, { timestamp: 1500 }))).toBeUndefined();
    expect(codeOf(() => assertRecordVisible(auditor(), undefined))).toBeUndefined();
    expect(codeOf(() => assertRecordVisible(operator, undefined))).toBeUndefined();
  });

  it('defaults a listing to the window and refuses bounds outside it', () => {
    expect(timeRangeFor(windowed, {})).toEqual({ from: 1000, to: 2000 });
    expect(timeRangeFor(windowed, { from: 1200 })).toEqual({ from: 1200, to: 2000 });
    expect(codeOf(() => timeRangeFor(windowed, { from: 999 }))).toBe('out-of-scope');
    expect(codeOf(() => timeRangeFor(windowed, { to: 2001 }))).toBe('out-of-scope');
    expect(timeRangeFor(operator, {})).toEqual({ from: 0, to: Number.MAX_SAFE_INTEGER });
  });
});

describe('route access (the allow-list)', () => {
  it('maps auditor-readable routes to their device, from device ids and record ids', () => {
    expect(accessFor('GET', '/v1/devices/plant-a-1/records')).toEqual({
      kind: 'device-read',
      deviceId: 'plant-a-1',
    });
    for (const tail of ['gaps', 'completeness', 'export', 'keys'])
      expect(accessFor('GET', `/v1/devices/d1/${tail}`)).toEqual({ kind: 'device-read', deviceId: 'd1' });
    for (const tail of ['', '/verify', '/proof', '/object'])
      expect(accessFor('GET', `/v1/records/sensor-001.42${tail}`)).toEqual({
        kind: 'device-read',
        deviceId: 'sensor-001',
      });
    expect(accessFor('POST', '/v1/devices/d1/key-release')).toEqual({ kind: 'key-release', deviceId: 'd1' });
    expect(accessFor('POST', '/v1/records/d1.3/key-release')).toEqual({
      kind: 'key-release',
      deviceId: 'd1',
    });
    expect(accessFor('GET', '/v1/devices/d%2D1/records')).toEqual({ kind: 'device-read', deviceId: 'd-1' });
    expect(accessFor('HEAD', '/v1/chains')).toEqual({ kind: 'public' });
  });

  it('leaves every other route to operators, including writes on readable paths', () => {
    for (const [m, p] of [
      ['GET', '/v1/tokens'],
      ['POST', '/v1/tokens'],
      ['DELETE', '/v1/tokens/tok-1'],
      ['GET', '/v1/audit'],
      ['GET', '/v1/dead-letters'],
      ['GET', '/v1/batches/b1'],
      ['GET', '/v1/anchoring'],
      ['POST', '/v1/devices'],
      ['POST', '/v1/devices/d1/credentials'],
      ['POST', '/v1/devices/d1/keys'],
      ['PATCH', '/v1/devices/d1'],
      ['DELETE', '/v1/records/d1.1'],
      ['GET', '/v1/devices/d1/records/extra'],
      ['GET', '/v1/something-new'],
    ] as const)
      expect(accessFor(m, p)).toEqual({ kind: 'operator' });
  });

  it('refuses a malformed record id as a bad request', () => {
    expect(codeOf(() => accessFor('GET', '/v1/records/no-seq'))).toBe('bad-request');
    expect(codeOf(() => accessFor('GET', '/v1/devices/%E0%A4%A/records'))).toBe('bad-request');
  });
});
