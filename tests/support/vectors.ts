import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Reference vectors live outside the repository in ../shared/vectors on the team's machines; a copy is
 * committed under tests/vectors so a fresh clone and CI have them too.
 */
export const VECTORS_DIR = join(import.meta.dirname, '..', 'vectors');

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Every *.json file under `dir`, depth first, with its path relative to `dir`. */
export function jsonFilesUnder(dir: string): { rel: string; path: string }[] {
  const out: { rel: string; path: string }[] = [];
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, rel);
      else if (name.endsWith('.json')) out.push({ rel, path: p });
    }
  };
  walk(dir, '');
  return out;
}
