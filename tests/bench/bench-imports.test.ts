/**
 * The ingest bench shares its process with the code it reports on, so what that process loads is part of what
 * it measures. Powertools' tracer loads aws-xray-sdk-core, whose cls-hooked installs async hooks with a
 * destroy hook: every promise then costs more, and the embedded ingest measured about 40% more CPU per record
 * on its main thread than `npm start` spends. The modules a bench run loads before its ingest rounds must not
 * pull it in; the Lambda benches load it later, on their own.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** The CommonJS modules (aws-xray-sdk-core is one) loaded after importing `modules`, in a fresh process. */
function loadedAfter(modules: string[]): string[] {
  const script = `
    import { createRequire } from 'node:module';
    for (const m of ${JSON.stringify(modules)}) await import(new URL(m, 'file://' + process.cwd() + '/').href);
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as string[];
}

describe('what the bench process loads before its ingest rounds', () => {
  it('the report, the ingest bench and the embedded runtime do not load the X-Ray SDK or cls-hooked', () => {
    const loaded = loadedAfter([
      'bench/report.ts',
      'bench/ingest.ts',
      'bench/raw-broker.ts',
      'bench/aws-cost-model.ts',

      'lib/runtime/embedded.ts',
    ]);
    // The check can see CommonJS modules at all: the MQTT broker's dependencies are among them.
    expect(loaded.some((p) => p.includes('/node_modules/'))).toBe(true);
    expect(loaded.filter((p) => /aws-xray-sdk-core|cls-hooked/.test(p))).toEqual([]);
  });
});
