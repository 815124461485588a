/**
 * The device-side promise: a record sealed on the device is kept until the backend acknowledges it, across
 * a backend that is down and a stub that is restarted.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FleetOptions, startFleet } from '../../device-stub/fleet.js';
import { Outbox } from '../../device-stub/outbox.js';
import { startInProcess, tempDir } from '../support/runtime.js';

describe('device outbox on disk', () => {
  const dataDir = tempDir('iotn-outbox-');
  const stateDir = tempDir('iotn-outbox-stub-');
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps records while the backend is down and delivers them after both restart', async () => {
    let rt = await startInProcess({ DATA_DIR: dataDir });
    const { mqttPort, httpPort, operatorToken } = rt;
    const base = (): FleetOptions => ({
      devices: 2,
      records: 5,
      ratePerSecond: 0,
      packetBytes: 200,
      seed: 5,
      prefix: 'ob',
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      apiUrl: `http://127.0.0.1:${httpPort}`,
      operatorToken,
      stateDir,
      maxInFlight: 100,
      ackTimeoutMs: 1000,
      timeoutMs: 20_000,
    });

    // 1. A normal run: provisioned, delivered, outbox empty.
    expect(await startFleet(base()).result).toMatchObject({
      created: 10,
      stored: 10,
      outboxLeft: 0,
      ok: true,
    });

    // 2. Backend down: new records are sealed and kept; the run gives up, nothing lost.
    await rt.stop();
    const offline = await startFleet({ ...base(), records: 7, timeoutMs: 1500 }).result;
    expect(offline).toMatchObject({ created: 14, stored: 0, outboxLeft: 14, ok: false });
    expect(offline.devices[0]?.error?.code).toBe('timeout');
    const box = new Outbox(join(stateDir, 'outbox.sqlite'));
    expect(box.pending('ob-5-0001').map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    box.close();

    // 3. Backend back on the same ports; a new stub run with no new records drains the outbox.
    rt = await startInProcess({
      DATA_DIR: dataDir,
      MQTT_PORT: String(mqttPort),
      HTTP_PORT: String(httpPort),
    });
    try {
      const drained = await startFleet({ ...base(), records: 0 }).result;
      expect(drained).toMatchObject({ created: 0, stored: 14, outboxLeft: 0, ok: true });
      for (const deviceId of ['ob-5-0001', 'ob-5-0002']) {
        const recs = await rt.index.listBySeq(deviceId, { fromSeq: 0, toSeq: 100, limit: 100 });
        expect(recs.map((r) => r.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i));
        // The hash chain runs unbroken across the outage.
        recs.slice(1).forEach((r, i) => {
          expect(r.prevHash).toBe(recs[i]?.recordHash);
        });
      }
    } finally {
      await rt.stop();
    }
  });
});
