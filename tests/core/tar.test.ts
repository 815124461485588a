/**
 * The ustar writer and reader of lib/core/tar.ts against GNU tar, the reference implementation on this
 * machine: tar lists and extracts what the writer makes, byte for byte, and the reader reads what tar makes
 * (in POSIX ustar and GNU formats); damaged and cut archives are refused with their codes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTar, readTarStream, TarError, TarReader, tarEntry, tarTrailer } from '../../lib/core/tar.js';
import { tempDir } from '../support/runtime.js';

const dir = tempDir('iotn-tar-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const longName = `iot-notary-export/bundles/${'d'.repeat(64)}.9007199254740991.proof.json`;
const files: [string, Uint8Array][] = [
  ['iot-notary-export/manifest.json', new TextEncoder().encode('{"a":1}')],
  [longName, new Uint8Array(1000).map((_, i) => i % 251)],
  ['iot-notary-export/empty.bin', new Uint8Array(0)],
  ['iot-notary-export/block.bin', new Uint8Array(512).fill(7)],
];
const archive = concat([...files.flatMap(([n, d]) => tarEntry(n, d, 1_700_000_000)), tarTrailer()]);

describe('ustar writer and reader', () => {
  it('GNU tar lists and extracts what the writer makes, names over 100 bytes included', () => {
    const path = join(dir, 'w.tar');
    writeFileSync(path, archive);
    const listed = execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual(files.map(([n]) => n));
    const out = join(dir, 'x');
    mkdirSync(out);
    execFileSync('tar', ['-xf', path, '-C', out]);
    for (const [n, d] of files) expect(new Uint8Array(readFileSync(join(out, n)))).toEqual(d);
    expect(longName.length).toBeGreaterThan(100);
  });

  it('reads back every entry, whole and in any chunking', async () => {
    const whole = [...readTar(archive)];
    expect(whole.map((e) => [e.name, e.data])).toEqual(files);
    expect(whole.every((e) => e.type === 'file' && e.mtime === 1_700_000_000)).toBe(true);
    for (const size of [1, 7, 511, 513, 4096]) {
      async function* chunks() {
        for (let i = 0; i < archive.length; i += size) yield archive.subarray(i, i + size);
      }
      const got = [];
      for await (const e of readTarStream(chunks())) got.push([e.name, e.data]);
      expect(got).toEqual(files);
    }
  });

  it('reads archives GNU tar wrote, in ustar and gnu formats', () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'a.txt'), 'hello\n');
    for (const format of ['ustar', 'gnu']) {
      const path = join(dir, `${format}.tar`);
      execFileSync('tar', [`--format=${format}`, '-cf', path, '-C', src, 'sub']);
      const entries = [...readTar(new Uint8Array(readFileSync(path)))];
      expect(entries.map((e) => [e.name.replace(/\/$/, ''), e.type])).toEqual([
        ['sub', 'directory'],
        ['sub/a.txt', 'file'],
      ]);
      expect(new TextDecoder().decode(entries[1]?.data)).toBe('hello\n');
    }
  });

  it('refuses a cut archive (tar-truncated) and a damaged header (tar-malformed)', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as TarError).code;
      }
      return 'read';
    };
    expect(code(() => [...readTar(archive.subarray(0, archive.length - 1024))])).toBe('tar-truncated');
    expect(code(() => [...readTar(archive.subarray(0, 700))])).toBe('tar-truncated');
    const bad = archive.slice();
    bad[10] = (bad[10] ?? 0) ^ 1;
    expect(code(() => [...readTar(bad)])).toBe('tar-malformed');
    expect(code(() => [...readTar(archive, { maxEntryBytes: 999 })])).toBe('tar-entry-too-large');
    const r = new TarReader();
    expect(() => r.end()).toThrow(TarError);
  });
});
