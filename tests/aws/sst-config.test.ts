/**
 * sst.config.ts is type-checked offline against SST's own platform types (scripts/sst-typecheck.sh, the
 * recipe in ../shared/FACTS.md), and the check has teeth: a copy with misspelt properties fails it, with
 * TypeScript's excess-property errors pointing at the typos. One tsc run covers both files.
 *
 * The first run on a machine prepares .sst/platform (about a minute, npm registry only); later runs reuse it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');
const TYPO_DIR = join(REPO, '.sst', `typo-check-${process.pid}`);

/** The config with two typos, relocated under .sst/ (gitignored, outside the repo's own tsc) with its paths fixed. */
function typoCopy(): string {
  const source = readFileSync(join(REPO, 'sst.config.ts'), 'utf8');
  const typos: [string, string][] = [
    // A top-level component argument...
    ['versioning: true,', 'versionning: true,'],
    // ...and one nested deep in a Pulumi resource's inputs.
    ['errorAction: { sqs: { queueUrl:', 'errorAction: { sqs: { queueURL:'],
  ];
  let text = source
    .replace('./.sst/platform/config.d.ts', '../platform/config.d.ts')
    .replaceAll("import('./", "import('../../");
  for (const [right, wrong] of typos) {
    expect(text).toContain(right);
    text = text.replace(right, wrong);
  }
  mkdirSync(TYPO_DIR, { recursive: true });
  const path = join(TYPO_DIR, 'sst.config.ts');
  writeFileSync(path, text);
  return path;
}

afterAll(() => rmSync(TYPO_DIR, { recursive: true, force: true }));

describe('sst.config.ts type-checks offline', () => {
  it('passes as committed, and a copy with misspelt properties fails with excess-property errors', () => {
    const typo = typoCopy();
    const run = spawnSync('bash', ['scripts/sst-typecheck.sh', 'sst.config.ts', typo], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 280_000,
    });
    const out = `${run.stdout}\n${run.stderr}`;
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    // The committed config has no errors at all...
    expect(errors.filter((l) => !l.includes(`typo-check-${process.pid}`))).toEqual([]);
    // ...and the copy fails, exactly at the two typos.
    expect(run.status).not.toBe(0);
    expect(errors).toHaveLength(2);
    expect(errors.some((l) => /TS(2561|2353).*'versionning'/.test(l))).toBe(true);
    expect(errors.some((l) => /TS(2561|2353).*'queueURL'/.test(l))).toBe(true);
  }, 300_000);
});
