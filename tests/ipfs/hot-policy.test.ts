import { describe, expect, it } from 'vitest';
import { HotPolicyError, hotPolicy, parseHotPolicy, routeOfRecord } from '../../lib/ipfs/hot-policy.js';

describe('hot policy', () => {
  it('none by default, all when asked', () => {
    const none = hotPolicy(parseHotPolicy(''));
    expect(none.config.mode).toBe('none');
    expect(none.isHot({ deviceId: 'sensor-1', route: 'device_records' })).toBe(false);
    expect(hotPolicy(parseHotPolicy('none')).isHot({ deviceId: 'a', route: 'device_records' })).toBe(false);
    expect(hotPolicy(parseHotPolicy('all')).isHot({ deviceId: 'a', route: 'device_manifests' })).toBe(true);
  });

  it('devices by exact id or prefix, routes by name; any rule matching makes a record hot', () => {
    const p = hotPolicy(parseHotPolicy(' devices: sensor-*, pump-7 ; routes: device_manifests '));
    expect(p.config).toEqual({
      mode: 'match',
      devices: ['sensor-*', 'pump-7'],
      routes: ['device_manifests'],
    });
    expect(p.isHot({ deviceId: 'sensor-0042', route: 'device_records' })).toBe(true);
    expect(p.isHot({ deviceId: 'pump-7', route: 'device_records' })).toBe(true);
    expect(p.isHot({ deviceId: 'pump-70', route: 'device_records' })).toBe(false);
    expect(p.isHot({ deviceId: 'valve-1', route: 'device_manifests' })).toBe(true);
    expect(p.isHot({ deviceId: 'valve-1', route: 'device_records' })).toBe(false);
    expect(
      hotPolicy({ mode: 'match', devices: ['*'] }).isHot({ deviceId: 'x', route: 'device_records' }),
    ).toBe(true);
  });

  it('maps how a record arrived to the route it came by', () => {
    expect(routeOfRecord('inline')).toBe('device_records');
    expect(routeOfRecord('upload')).toBe('device_manifests');
  });

  it('refuses what could only be a mistake', () => {
    const bad: [string, RegExp][] = [
      ['routes:device_upload_requests', /does not carry records/],
      ['routes:device_recordz', /does not carry records/],
      ['devices:sen*sor', /neither a device id nor a prefix/],
      ['devices:a.b', /neither a device id nor a prefix/],
      ['devices:', /lists nothing/],
      ['hosts:a', /unknown group/],
    ];
    for (const [text, re] of bad) {
      let err: unknown;
      try {
        hotPolicy(parseHotPolicy(text));
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(HotPolicyError);
      expect((err as Error).message).toMatch(re);
    }
    expect(() => hotPolicy({ mode: 'all', devices: ['a'] })).toThrow(HotPolicyError);
    expect(() => hotPolicy({ mode: 'match' })).toThrow(HotPolicyError);
  });
});
