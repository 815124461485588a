/**
 * Who may do what (docs/architecture.md §5, docs/api.md "Roles"). Two roles: the operator, who may do
 * everything, and the auditor, who holds a token limited to some devices, optionally to a window of device
 * time, with read access and, if the operator granted it, key release.
 *
 * Everything here is pure: the HTTP edge (lib/api/api-app.ts) and the export route call it before any
 * lookup, so a refusal never depends on whether the thing asked for exists.
 */
import { isDeviceId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';

export const PERMISSIONS = ['read', 'key-release'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * What an auditor token reaches. `devices` holds device ids and prefixes written `plant-a-*` (a prefix of at
 * least one character and `*`). The window, when present, bounds the device timestamps of the records the
 * token may see: `from <= timestamp < to` (ms since the Unix epoch), the same half-open convention as
 * `GET /v1/devices/{id}/records`.
 */
export interface Scope {
  devices: readonly string[];
  from?: number;
  to?: number;
}

export type OperatorPrincipal = { role: 'operator'; actor: string };

export interface AuditorPrincipal {
  role: 'auditor';
  /** `auditor:<tokenId>`: what the audit log records. */
  actor: string;
  tokenId: string;
  scope: Scope;
  permissions: readonly Permission[];
  expiresAt: number;
}

export type Principal = OperatorPrincipal | AuditorPrincipal;

/** What a request wants, as far as access is concerned (lib/access/route-access.ts maps routes to these). */
export type AccessRequest =
  /** Open to every authenticated caller: health, chain descriptions. */
  | { kind: 'public' }
  /** Reads about one device or its records. */
  | { kind: 'device-read'; deviceId: string }
  /** Releases record keys of one device. */
  | { kind: 'key-release'; deviceId: string }
  /** Everything else: provisioning, tokens, audit, dead letters, batches, anchoring. */
  | { kind: 'operator' };

export type AccessRefusal = { code: 'forbidden' | 'out-of-scope'; message: string };
export type AccessDecision = { allowed: true } | ({ allowed: false } & AccessRefusal);

const MAX_DEVICE_PATTERNS = 100;

/** A device pattern as a token stores it: a device id, or a non-empty prefix of one followed by `*`. */
export function isDevicePattern(p: string): boolean {
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return prefix.length >= 1 && prefix.length < 64 && isDeviceId(prefix);
  }
  return isDeviceId(p);
}

export function deviceInScope(scope: Scope, deviceId: string): boolean {
  return scope.devices.some((p) => (p.endsWith('*') ? deviceId.startsWith(p.slice(0, -1)) : p === deviceId));
}

/** Whether a record with this device timestamp is inside the window (always, for a token without one). */
export function timeInScope(scope: Scope, timestamp: number): boolean {
  return (
    (scope.from === undefined || timestamp >= scope.from) && (scope.to === undefined || timestamp < scope.to)
  );
}

export const hasTimeWindow = (scope: Scope): boolean => scope.from !== undefined || scope.to !== undefined;

/** Whether the half-open range [from, to) of device time lies inside the window. */
export function timeRangeInScope(scope: Scope, range: { from: number; to: number }): boolean {
  if (range.to <= range.from) return true;
  return (
    (scope.from === undefined || range.from >= scope.from) && (scope.to === undefined || range.to <= scope.to)
  );
}

/**
 * The window a listing by device time runs over for this principal: the request's bounds, defaulted to the
 * token's. Bounds the request sets outside the token's window are refused, not narrowed, so an auditor never
 * mistakes a cut answer for a whole one.
 */
export function timeRangeFor(
  p: Principal,
  asked: { from?: number; to?: number },
): { from: number; to: number } {
  const scope = p.role === 'auditor' ? p.scope : { devices: [] };
  const range = {
    from: asked.from ?? scope.from ?? 0,
    to: asked.to ?? scope.to ?? Number.MAX_SAFE_INTEGER,
  };
  if (p.role === 'auditor' && !timeRangeInScope(p.scope, range)) throw outOfScopeError();
  return range;
}

const OUT_OF_SCOPE_MESSAGE = 'outside this token’s scope';

/**
 * The one answer for anything an auditor may not see. It is the same for a device outside the token's list,
 * a record outside its window and, for a token with a window, a record that does not exist, so that the
 * answer tells nothing about what exists outside the scope.
 */
export function outOfScopeError(): NotaryError {
  return new NotaryError('out-of-scope', OUT_OF_SCOPE_MESSAGE);
}

/**
 * The decision for one request, taken before anything is looked up. The operator may do everything. An
 * auditor may reach public routes, reads of devices in its scope and, with the `key-release` permission, key
 * release for devices in its scope; the role is checked before the scope, so a route no auditor may call
 * answers `forbidden` whatever it names.
 */
export function authorize(p: Principal, req: AccessRequest): AccessDecision {
  if (p.role === 'operator') return { allowed: true };
  switch (req.kind) {
    case 'public':
      return { allowed: true };
    case 'operator':
      return { allowed: false, code: 'forbidden', message: 'this route is for operators only' };
    case 'device-read':
    case 'key-release': {
      const need: Permission = req.kind === 'key-release' ? 'key-release' : 'read';
      if (!p.permissions.includes(need))
        return { allowed: false, code: 'forbidden', message: `this token lacks the ${need} permission` };
      if (!deviceInScope(p.scope, req.deviceId))
        return { allowed: false, code: 'out-of-scope', message: OUT_OF_SCOPE_MESSAGE };
      return { allowed: true };
    }
  }
}

/** `authorize` for code that throws: a refusal becomes the NotaryError the API answers with. */
export function assertAuthorized(p: Principal, req: AccessRequest): void {
  const d = authorize(p, req);
  if (!d.allowed) throw new NotaryError(d.code, d.message);
}

/**
 * After a lookup by id: a record of an in-scope device may still be outside the token's window. For a token
 * with a window, a record that does not exist gets the same answer as one outside it (`undefined` in, the
 * out-of-scope error out); without a window, the caller's own not-found answer stands.
 */
export function assertRecordVisible(p: Principal, rec: { timestamp: number } | undefined): void {
  if (p.role !== 'auditor') return;
  if (rec === undefined ? hasTimeWindow(p.scope) : !timeInScope(p.scope, rec.timestamp))
    throw outOfScopeError();
}

/** Checks a scope as the operator gives it when creating a token; returns what is wrong, or undefined. */
export function scopeProblem(scope: Scope): string | undefined {
  if (scope.devices.length === 0) return 'devices must name at least one device id or prefix';
  if (scope.devices.length > MAX_DEVICE_PATTERNS)
    return `devices may hold at most ${MAX_DEVICE_PATTERNS} entries`;
  const bad = scope.devices.find((d) => !isDevicePattern(d));
  if (bad !== undefined)
    return `${JSON.stringify(bad)} is neither a device id ([A-Za-z0-9_-]{1,64}) nor a prefix followed by *`;
  if (scope.from !== undefined && scope.to !== undefined && scope.to <= scope.from)
    return 'to must be later than from';
  return undefined;
}
