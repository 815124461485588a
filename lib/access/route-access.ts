/**
 * The API's routes as access requests: the one list of what an auditor may call. It is an allow-list: a
 * route missing here is operator-only, so a route added to the API later is closed to auditors until it is
 * listed. The device a route is about is read from the path itself (a record id carries its device), so the
 * scope is checked before anything is looked up.
 */
import { parseRecordId } from '../core/device-id.js';
import { NotaryError } from '../core/errors.js';
import type { AccessRequest } from './scope.js';

type Rule = {
  method: 'GET' | 'POST';
  path: RegExp;
  /** How the first captured segment names the device: as a device id, or as a record id `<deviceId>.<seq>`. */
  subject?: 'device' | 'record';
  kind: AccessRequest['kind'];
};

const RULES: readonly Rule[] = [
  { method: 'GET', path: /^\/v1\/health$/, kind: 'public' },
  { method: 'GET', path: /^\/v1\/chains$/, kind: 'public' },
  {
    method: 'GET',
    path: /^\/v1\/devices\/([^/]+)\/(?:records|gaps|completeness|export|keys)$/,
    subject: 'device',
    kind: 'device-read',
  },
  {
    method: 'GET',
    path: /^\/v1\/records\/([^/]+)(?:\/(?:verify|proof|object))?$/,
    subject: 'record',
    kind: 'device-read',
  },
  { method: 'POST', path: /^\/v1\/devices\/([^/]+)\/key-release$/, subject: 'device', kind: 'key-release' },
  { method: 'POST', path: /^\/v1\/records\/([^/]+)\/key-release$/, subject: 'record', kind: 'key-release' },
];

/** Path segments as the router hands them to routes: percent-decoded. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new NotaryError('bad-request', 'the path is not valid percent-encoding');
  }
}

/**
 * The access request of `method path`. HEAD is treated as GET. A malformed record id in an auditor-readable
 * route is a bad request (it names no device, so nothing about any device is told by refusing it).
 */
export function accessFor(method: string, path: string): AccessRequest {
  const m = method === 'HEAD' ? 'GET' : method;
  for (const rule of RULES) {
    if (rule.method !== m) continue;
    const match = rule.path.exec(path);
    if (!match) continue;
    if (rule.kind === 'public' || rule.kind === 'operator') return { kind: rule.kind };
    const segment = decodeSegment(match[1] ?? '');
    const deviceId = rule.subject === 'record' ? parseRecordId(segment)?.deviceId : segment;
    if (deviceId === undefined)
      throw new NotaryError(
        'bad-request',
        `${JSON.stringify(segment)} is not a record id (<deviceId>.<seq>)`,
      );
    return { kind: rule.kind, deviceId };
  }
  return { kind: 'operator' };
}
