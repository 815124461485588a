/**
 * The export bench's section of BENCHMARKS.md: written between its markers, replaced in place on a rerun,
 * put before the method notes the first time, and carried over by `npm run bench` (run.ts).
 */
import { describe, expect, it } from 'vitest';
import { EXPORT_BEGIN, EXPORT_END, existingExportSection, spliceExportSection } from '../../bench/export.js';

describe('export bench section', () => {
  const section = (n: number) => `${EXPORT_BEGIN}\n## Range export\n${n}\n${EXPORT_END}`;
  it('goes before the method notes, is replaced in place, and is found again', () => {
    const doc = '# Benchmarks\n\n## 1. Raw\n\nx\n\n## Method notes\n\ny\n';
    const once = spliceExportSection(doc, section(1));
    expect(once.indexOf(EXPORT_BEGIN)).toBeLessThan(once.indexOf('## Method notes'));
    const twice = spliceExportSection(once, section(2));
    expect(twice.split(EXPORT_BEGIN)).toHaveLength(2);
    expect(existingExportSection(twice)).toBe(section(2));
    expect(existingExportSection(doc)).toBeUndefined();
  });
});
