/**
 * The layering rule of biome.json: no file under lib/ imports functions/ (docs/architecture.md, "Composition
 * roots"). The real Biome runs with the repository's own configuration over a scratch tree of planted files,
 * so the test fails if the rule is dropped, loosened, or shadowed by a later override (lib/core has its own).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const BIOME = join(ROOT, 'node_modules/.bin/biome');
const MESSAGE = 'lib/ never imports functions/';

const PLANTED: Record<string, string> = {
  'lib/runtime/value-import.ts':
    "import { handler } from '../../functions/ingest/lambda.js';\n\nexport const h = handler;\n",
  'lib/runtime/type-import.ts':
    "import type { IotRuleEvent } from '../../functions/ingest/lambda.js';\n\nexport const f = (e: IotRuleEvent) => e;\n",
  'lib/runtime/re-export.ts': "export { defineLambda } from '../../functions/edge/define-lambda.js';\n",
  'lib/core/pure-import.ts':
    "import { scheduleEvent } from '../../functions/edge/schedule-event.js';\n\nexport const s = scheduleEvent;\n",
  // The other direction is the intended one, and lib/ importing lib/ is ordinary.
  'functions/ingest/lambda.ts':
    "import { h } from '../../lib/runtime/value-import.js';\n\nexport const handler = h;\n",
  'lib/runtime/lib-import.ts': "import { h } from './value-import.js';\n\nexport const again = h;\n",
};

let dir: string;
let output: string;
let exitCode: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layering-lint-'));
  const config = JSON.parse(await readFile(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
  // The scratch tree is not a git checkout, and the schema path is relative to the repository.
  delete config.$schema;
  config.vcs = { enabled: false };
  await writeFile(join(dir, 'biome.json'), JSON.stringify(config));
  for (const [path, text] of Object.entries(PLANTED)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  try {
    const r = await run(BIOME, ['lint', '--only=style/noRestrictedImports', '--max-diagnostics=50', '.'], {
      cwd: dir,
    });
    output = r.stdout + r.stderr;
    exitCode = 0;
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    output = err.stdout + err.stderr;
    exitCode = err.code;
  }
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The files Biome refused with the layering message, from its diagnostics (`path:line:col rule`). */
function refused(): string[] {
  const blocks = output.split(/\n(?=\S+:\d+:\d+ lint\/)/);
  return blocks
    .filter((b) => b.includes(MESSAGE))
    .map((b) => /(\S+):\d+:\d+ lint\/style\/noRestrictedImports/.exec(b)?.[1] ?? '?')
    .sort();
}

describe('lint: lib/ never imports functions/', () => {
  it('refuses a value import, a type import and a re-export of functions/ from lib/, lib/core included', () => {
    expect(exitCode).toBe(1);
    expect(refused()).toEqual([
      'lib/core/pure-import.ts',
      'lib/runtime/re-export.ts',
      'lib/runtime/type-import.ts',
      'lib/runtime/value-import.ts',
    ]);
  });

  it('lets functions/ import lib/, and lib/ import lib/', () => {
    expect(output).not.toContain('functions/ingest/lambda.ts:');
    expect(output).not.toContain('lib/runtime/lib-import.ts:');
  });
});
