/**
 * Checks that run inside the page (page.evaluate bodies are serialised and run in Chromium), so this file is
 * type-checked with the DOM (web/tsconfig.json).
 */
import type { Page } from 'playwright-core';

/**
 * The lowest WCAG contrast ratio of any visible text on the page: each element's text colour against the
 * first opaque background behind it (opacity is not blended; the page uses none).
 */
export async function lowestTextContrast(page: Page): Promise<{ ratio: number; text: string }> {
  return page.evaluate(() => {
    const rgb = (c: string): [number, number, number, number] => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      const p = (m?.[1] ?? '0,0,0,0').split(',').map((x) => Number.parseFloat(x));
      return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 1];
    };
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r ?? 0) + 0.7152 * f(g ?? 0) + 0.0722 * f(b ?? 0);
    };
    const background = (el: Element | null): number[] => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c[3] === 1) return c;
      }
      return [255, 255, 255, 1];
    };
    let worst = { ratio: 21, text: '' };
    for (const el of document.body.querySelectorAll('*')) {
      if (el instanceof SVGElement) continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && (n.textContent ?? '').trim() !== '');
      if (!own) continue;
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (box.width === 0 || style.visibility === 'hidden' || box.right < 0) continue;
      const a = lum(rgb(style.color));
      const b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < worst.ratio) worst = { ratio, text: (el.textContent ?? '').trim().slice(0, 60) };
    }
    return worst;
  });
}
