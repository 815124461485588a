/**
 * Which records get a hot copy on IPFS. Pure: the composition root turns IPFS_HOT (or any plain object) into
 * a policy once, and the pin path asks it one question per record.
 *
 * A record is hot when the policy is `all`, or when its device matches one of the device patterns, or when it
 * arrived over one of the listed routes (union, not intersection: "everything from these devices, and every
 * large upload" is the case the rules are for). The default is `none`: IPFS content is readable by anyone
 * who learns the CID, so nothing is published unless an operator asks for it.
 *
 * A per-record flag (the third option in issue 5) needs a header bit, which envelope v1 does not have: its
 * flags byte must be 0. docs/ipfs.md proposes bit 0 for a later envelope revision.
 */
import { isDeviceId } from '../core/device-id.js';
import { CodedError } from '../core/errors.js';
import type { Via } from '../ports.js';
import { DEVICE_ROUTES, type DeviceRoute } from '../routing/routes.js';

export interface HotPolicyConfig {
  mode: 'all' | 'none' | 'match';
  /** Exact device ids, or prefixes ending in `*` (`sensor-*`); a lone `*` matches every device. */
  devices?: readonly string[];
  /** Names of routes in lib/routing/routes.ts that carry records (device_records, device_manifests). */
  routes?: readonly string[];
}

export interface HotPolicy {
  readonly config: Readonly<Required<HotPolicyConfig>>;
  isHot(record: { deviceId: string; route: string }): boolean;
}

/** A hot-pin policy (IPFS_HOT_POLICY) that does not parse: a configuration error of the IPFS domain. */
export class HotPolicyError extends CodedError<'bad-hot-policy'> {
  override readonly name = 'HotPolicyError';
  constructor(message: string) {
    super('bad-hot-policy', message);
  }
}

const PREFIX_RE = /^[A-Za-z0-9_-]{0,63}\*$/;

/** Routes whose messages end as stored records: a policy naming any other route can never match. */
function recordRoutes(): DeviceRoute[] {
  return DEVICE_ROUTES.filter((r) => r.kind === 'record' || r.kind === 'manifest');
}

/** The route a stored record came in by: inline records on the records topic, uploads through a manifest. */
export function routeOfRecord(via: Via): string {
  const kind = via === 'inline' ? 'record' : 'manifest';
  const route = DEVICE_ROUTES.find((r) => r.kind === kind);
  // A programming error (lib/routing/routes.ts lost a route kind): a plain Error.
  if (!route) throw new Error(`no route of kind ${kind} in lib/routing/routes.ts`);
  return route.name;
}

export function hotPolicy(config: HotPolicyConfig): HotPolicy {
  const devices = [...(config.devices ?? [])];
  const routes = [...(config.routes ?? [])];
  if (config.mode !== 'match' && (devices.length > 0 || routes.length > 0))
    throw new HotPolicyError(`mode ${config.mode} takes no device or route rules`);
  if (config.mode === 'match' && devices.length === 0 && routes.length === 0)
    throw new HotPolicyError('mode match needs at least one device pattern or route');
  for (const d of devices) {
    if (!isDeviceId(d) && !PREFIX_RE.test(d))
      throw new HotPolicyError(
        `device pattern ${JSON.stringify(d)} is neither a device id nor a prefix ending in *`,
      );
  }
  const known = recordRoutes().map((r) => r.name);
  for (const r of routes) {
    if (!known.includes(r))
      throw new HotPolicyError(
        `route ${JSON.stringify(r)} does not carry records; one of: ${known.join(', ')}`,
      );
  }
  const exact = new Set(devices.filter((d) => !d.endsWith('*')));
  const prefixes = devices.filter((d) => d.endsWith('*')).map((d) => d.slice(0, -1));
  const routeSet = new Set(routes);
  const frozen = Object.freeze({ mode: config.mode, devices, routes });
  return {
    config: frozen,
    isHot({ deviceId, route }) {
      if (config.mode === 'all') return true;
      if (config.mode === 'none') return false;
      return exact.has(deviceId) || prefixes.some((p) => deviceId.startsWith(p)) || routeSet.has(route);
    },
  };
}

/**
 * The proposed IPFS_HOT format: `none` | `all` | groups separated by `;`, each `devices:` or `routes:`
 * followed by a comma-separated list. Example: `devices:sensor-*,pump-7;routes:device_manifests`.
 * Device ids cannot contain `:`, `,`, `;` or `*`, so the separators are unambiguous.
 */
export function parseHotPolicy(text: string): HotPolicyConfig {
  const t = text.trim();
  if (t === '' || t === 'none') return { mode: 'none' };
  if (t === 'all') return { mode: 'all' };
  const devices: string[] = [];
  const routes: string[] = [];
  for (const group of t.split(';')) {
    const g = group.trim();
    if (g === '') continue;
    const colon = g.indexOf(':');
    const key = colon < 0 ? g : g.slice(0, colon).trim();
    const items = (colon < 0 ? '' : g.slice(colon + 1))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (items.length === 0) throw new HotPolicyError(`group ${JSON.stringify(g)} lists nothing`);
    if (key === 'devices') devices.push(...items);
    else if (key === 'routes') routes.push(...items);
    else throw new HotPolicyError(`unknown group ${JSON.stringify(key)}; expected devices: or routes:`);
  }
  return { mode: 'match', devices, routes };
}
