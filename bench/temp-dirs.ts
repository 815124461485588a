/**
 * Scratch directories for one bench run, all removed at exit, also when a bench throws or the run is
 * interrupted with Ctrl-C.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

function removeAll(): void {
  for (const d of made) rmSync(d, { recursive: true, force: true });
  made.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', removeAll);
}

/** A directory on the machine's real disk: where the backend's durable writes go. */
export function diskTempDir(label: string): string {
  hookExit();
  const d = mkdtempSync(join(tmpdir(), `iot-notary-bench-${label}-`));
  made.add(d);
  return d;
}

/**
 * A directory in RAM when the machine has /dev/shm. The device stub's outbox stands for each device's own
 * flash; on the backend's disk its fsyncs would compete with the very writes being measured.
 */
export function ramTempDir(label: string): string {
  hookExit();
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const d = mkdtempSync(join(base, `iot-notary-bench-${label}-`));
  made.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  made.delete(d);
}

export function removeAllTempDirs(): void {
  removeAll();
}
