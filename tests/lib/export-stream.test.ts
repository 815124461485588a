/**
 * The export's Web stream produces only when its reader asks (backpressure), and a reader that goes away
 * stops the export: the generator behind it is ended, so nothing more is read from the stores.
 */
import { describe, expect, it } from 'vitest';
import { exportStream } from '../../lib/export/device-export.js';

describe('exportStream', () => {
  it('pulls about one 64 KiB chunk ahead of the reader, and ends the source when cancelled', async () => {
    let produced = 0;
    let ended = false;
    async function* parts() {
      try {
        for (;;) {
          produced++;
          yield new Uint8Array(1024);
        }
      } finally {
        ended = true;
      }
    }
    const stream = exportStream(parts(), () => {});
    const reader = stream.getReader();
    const first = await reader.read();
    expect(first.value?.length).toBe(64 * 1024);
    // Give an eager producer every chance to run ahead: it must not.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(produced).toBeLessThanOrEqual(3 * 64);
    await reader.cancel();
    expect(ended).toBe(true);
  });

  it('ends the archive early, unfinished, when the source fails mid-way', async () => {
    const seen: unknown[] = [];
    async function* parts() {
      yield new Uint8Array(10);
      throw new Error('storage went away');
    }
    const reader = exportStream(parts(), (e) => seen.push(e)).getReader();
    await expect(reader.read()).rejects.toThrow('storage went away');
    expect(seen).toHaveLength(1);
  });
});
