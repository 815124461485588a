/**
 * The page's tar reader (web/src/ustar.ts) against archives written by the system's tar: ustar with the
 * prefix field, pax long names, directories skipped; and what it must refuse: a changed header, an archive cut
 * short, something that is no tar.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTar } from '../../web/src/ustar.js';
import { tempDir } from '../support/runtime.js';

describe('the browser verifier’s tar reader', () => {
  const dir = tempDir('iotn-ustar-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const files: Record<string, Uint8Array> = {
    'iot-notary-export/manifest.json': new TextEncoder().encode('{"format":"iot-notary.export.v1"}'),
    // 512 bytes exactly, then one more than a block: no padding, and padding.
    'iot-notary-export/envelopes/a.bin': new Uint8Array(512).fill(7),
    'iot-notary-export/envelopes/b.bin': new Uint8Array(513).fill(9),
    'iot-notary-export/empty.json': new Uint8Array(0),
    // Longer than the 100-byte name field: ustar splits it into prefix and name, pax writes a path record.
    [`iot-notary-export/bundles/${'d'.repeat(64)}.${'9'.repeat(16)}.proof.json`]: new Uint8Array([1, 2, 3]),
  };
  const names = Object.keys(files);
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(dir, 'src', name, '..'), { recursive: true });
    writeFileSync(join(dir, 'src', name), data);
  }
  const tar = (format: string, extra: string[] = []) => {
    const out = join(dir, `${format}.tar`);
    execFileSync('tar', [`--format=${format}`, '-cf', out, '-C', join(dir, 'src'), ...extra, ...names]);
    return new Uint8Array(readFileSync(out));
  };

  for (const format of ['ustar', 'pax'])
    it(`reads every file of a ${format} archive from the system's tar, names and bytes exact`, () => {
      const r = readTar(tar(format));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.entries.map((e) => e.name)).toEqual(names);
      for (const e of r.entries) expect(e.data).toEqual(files[e.name]);
    });

  it('takes a name longer than ustar can hold from its pax record', () => {
    const long = `iot-notary-export/bundles/${'x'.repeat(130)}.proof.json`;
    mkdirSync(join(dir, 'src', long, '..'), { recursive: true });
    writeFileSync(join(dir, 'src', long), 'long');
    const out = join(dir, 'long.tar');
    execFileSync('tar', ['--format=pax', '-cf', out, '-C', join(dir, 'src'), long]);
    const bytes = new Uint8Array(readFileSync(out));
    expect(String.fromCharCode(bytes[156] as number)).toBe('x');
    const r = readTar(bytes);
    expect(r.ok && r.entries.map((e) => [e.name, new TextDecoder().decode(e.data)])).toEqual([
      [long, 'long'],
    ]);
  });

  it('skips directory entries', () => {
    const out = join(dir, 'dirs.tar');
    execFileSync('tar', [
      '--format=ustar',
      '-cf',
      out,
      '-C',
      join(dir, 'src'),
      'iot-notary-export/envelopes',
    ]);
    const r = readTar(new Uint8Array(readFileSync(out)));
    expect(r.ok && r.entries.map((e) => e.name).sort()).toEqual([
      'iot-notary-export/envelopes/a.bin',
      'iot-notary-export/envelopes/b.bin',
    ]);
  });

  it('refuses a header with one byte changed (checksum)', () => {
    const bytes = tar('ustar');
    bytes[10] = (bytes[10] as number) ^ 0x01;
    expect(readTar(bytes)).toMatchObject({ ok: false, code: 'bad-checksum' });
  });

  it('refuses an archive cut short, inside an entry or inside a header', () => {
    const bytes = tar('ustar');
    expect(readTar(bytes.subarray(0, 512 + 10))).toMatchObject({ ok: false, code: 'archive-truncated' });
    expect(readTar(bytes.subarray(0, 1024 + 100))).toMatchObject({ ok: false, code: 'archive-truncated' });
  });

  it('refuses what is not a tar', () => {
    expect(readTar(new TextEncoder().encode('{"format":"iot-notary.proof.v2"}'))).toMatchObject({
      ok: false,
      code: 'not-a-tar',
    });
    expect(readTar(new Uint8Array(1024))).toMatchObject({ ok: false, code: 'not-a-tar' });
  });
});
