/** lib/ingest/device-gate.ts: who waits for whom, and the acceptance times it hands out. */
import { describe, expect, it } from 'vitest';
import { DeviceGate } from '../../lib/ingest/device-gate.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

function held() {
  let release: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    release = r;
  });
  return { done, release: () => release() };
}

describe('DeviceGate', () => {
  it('an exclusive holder waits for the shared ones, and later shared ones wait for it', async () => {
    const gate = new DeviceGate(() => 1000);
    const log: string[] = [];
    const a = held();
    const first = gate.shared('d', async () => {
      log.push('shared-1 in');
      await a.done;
      log.push('shared-1 out');
    });
    await tick();
    const rotation = gate.exclusive('d', async () => {
      log.push('exclusive');
    });
    await tick();
    const second = gate.shared('d', async () => {
      log.push('shared-2');
    });
    await tick();
    expect(log).toEqual(['shared-1 in']);
    a.release();
    await Promise.all([first, rotation, second]);
    expect(log).toEqual(['shared-1 in', 'shared-1 out', 'exclusive', 'shared-2']);
  });

  it('other devices are not held up', async () => {
    const gate = new DeviceGate(() => 1000);
    const a = held();
    const blocked = gate.exclusive('d1', () => a.done);
    let ran = false;
    await gate.shared('d2', async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    a.release();
    await blocked;
  });

  it('a rotation is stamped after every record before it, records after it no earlier than it', async () => {
    const gate = new DeviceGate(() => 5000); // a clock that stands still
    const before = await gate.shared('d', async (stamp) => stamp());
    const rotation = await gate.exclusive('d', async (stamp) => stamp());
    const after = await gate.shared('d', async (stamp) => stamp());
    expect([before, rotation, after]).toEqual([5000, 5001, 5001]);
  });

  it('a failing holder releases the gate', async () => {
    const gate = new DeviceGate(() => 1);
    await expect(gate.exclusive('d', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.shared('d', async () => 'through')).toBe('through');
  });
});
