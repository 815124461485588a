/**
 * The browser verifier (web/, docs/web-verifier.md) in real headless Chromium, on real evidence from the
 * running runtime (tests/support/web-evidence.ts). The page is built by this test, opened from file:// (no
 * server, no network: every request it makes is recorded and must be its own file) and from GET /verify.
 * The browser is started here; if it cannot be, the suite fails (it never skips).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_PATH, writeVerifierPage } from '../../web/build.js';
import { type Browser, launchChromium, watchPage } from '../support/browser.js';
import { makeWebEvidence, type WebEvidence } from '../support/web-evidence.js';
import { lowestTextContrast } from './page-probes.js';

/** Text as rendered (Playwright's innerText: laid-out line breaks), which the regular expressions below read. */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's Page.innerText, not the DOM property.
const shownText = (page: Page, selector: string) => page.innerText(selector);

describe('the browser verifier in headless Chromium', () => {
  let ev: WebEvidence;
  let browser: Browser;
  const pageUrl = pathToFileURL(PAGE_PATH).href;

  beforeAll(async () => {
    await writeVerifierPage();
    browser = await launchChromium();
    ev = await makeWebEvidence();
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await ev?.stop();
  });

  /** Opens the page from disk and watches what it logs and requests. */
  async function open(url = pageUrl) {
    const page = await browser.context.newPage();
    const seen = watchPage(page);
    await page.goto(url);
    await page.waitForSelector('body[data-state="ready"]');
    return { page, seen };
  }

  async function verify(page: Page, files: string[], pins: { ledger?: string; device?: string } = {}) {
    await page.setInputFiles('#files', files);
    if (pins.ledger) await page.fill('#ledger-keys', pins.ledger);
    if (pins.device) await page.fill('#device-keys', pins.device);
    await page.click('#verify');
    await page.waitForSelector('body[data-state="done"]');
  }

  /** Nothing but the page itself was requested, and nothing went wrong in it. */
  function expectQuiet(seen: ReturnType<typeof watchPage>, url = pageUrl) {
    expect(seen.requests).toEqual([url]);
    expect(seen.errors).toEqual([]);
  }

  it('a real bundle with its envelope and pinned keys reads verified, says what it proves, draws its path', async () => {
    const { page, seen } = await open();
    await verify(page, [ev.bundle, ev.envelope], { ledger: ev.ledgerKey, device: ev.devicePin });
    expect(await page.getAttribute('#verdict', 'class')).toContain('verdict-verified');
    expect(await page.textContent('#status')).toBe('Verified. 1 record checked.');
    const proves = await shownText(page, '.proves');
    expect(proves).toMatch(/Integrity\s+proven/);
    expect(proves).toMatch(/Existence time\s+proven\s+existed by \d{4}-\d\d-\d\dT.*on embedded:/);
    expect(proves).toMatch(/Origin\s+proven\s+signed by device key/);
    expect(proves).toMatch(/Completeness\s+not covered/);
    expect(await shownText(page, '.checks')).toContain('Stored object: ok');
    // The tree ends in the batch root the proof claims.
    expect(await page.locator('svg.tree .node-root').count()).toBe(1);
    expect(await page.locator('svg.tree .node-root-bad').count()).toBe(0);
    expect((await lowestTextContrast(page)).ratio).toBeGreaterThanOrEqual(4.5);
    expectQuiet(seen);
    await page.close();
  });

  it('the same bundle with one character changed reads tampered, with the reason and the broken path', async () => {
    const { page, seen } = await open();
    await verify(page, [ev.tamperedBundle], { ledger: ev.ledgerKey, device: ev.devicePin });
    expect(await page.getAttribute('#verdict', 'class')).toContain('verdict-tampered');
    expect(await page.textContent('#status')).toBe('Tampered. 1 record checked.');
    const reasons = await shownText(page, '.reasons');
    if (ev.tamperedField === 'inclusion.path[0]') {
      expect(reasons).toContain('inclusion-proof-invalid');
      expect(await page.locator('svg.tree .node-root-bad').count()).toBe(1);
      expect(await shownText(page, '.proves')).toMatch(/Integrity\s+invalid/);
    } else {
      expect(reasons).toContain('record-fields-mismatch');
    }
    expect((await lowestTextContrast(page)).ratio).toBeGreaterThanOrEqual(4.5);
    expectQuiet(seen);
    await page.close();
  });

  it('an export archive with a record deleted reads missing, with the gap on the timeline and the anchors', async () => {
    const { page, seen } = await open();
    await verify(page, [ev.archive], { ledger: ev.ledgerKey, device: ev.devicePin });
    expect(await page.getAttribute('#verdict', 'class')).toContain('verdict-missing');
    expect(await page.textContent('#status')).toBe(`Missing. ${ev.records - 1} records checked. Gaps: 1.`);
    expect(await shownText(page, '.proves')).toMatch(
      new RegExp(
        `Completeness\\s+incomplete\\s+seq 0–${ev.records - 1} of ${ev.deviceId}; head ok; missing ${ev.gapSeq}\\.`,
      ),
    );
    expect(await shownText(page, '.counts')).toBe(`${ev.records - 1} records: ${ev.records - 1} verified.`);
    // Read by lib/core's tar reader and judged by its export check, as the command-line verifier does.
    const archive = await shownText(page, '#archive-summary');
    expect(archive).toContain(
      `${ev.records - 1} records announced, ${ev.records - 1} checked, ${ev.records - 1} with their envelope; 1 seq missing.`,
    );
    expect(archive).toMatch(/Container:\s+intact$/);
    expect(await page.locator('svg.timeline .tl-gap').count()).toBe(1);
    expect(await page.textContent('svg.timeline .tl-gap title')).toBe(`gap: seq ${ev.gapSeq}`);
    expect(await page.locator('svg.timeline .tl-anchor').count()).toBeGreaterThanOrEqual(1);
    expect(await shownText(page, '.tl-list')).toContain(`Gaps: seq ${ev.gapSeq}.`);
    expect((await lowestTextContrast(page)).ratio).toBeGreaterThanOrEqual(4.5);
    expectQuiet(seen);
    await page.close();
  });

  it('the export archive with one byte of a bundle changed reads tampered, the container damaged', async () => {
    const bytes = new Uint8Array(readFileSync(ev.archive));
    // A hex digit of the first bundle's ciphertext hash, inside the tar, changed to another hex digit.
    const at = Buffer.from(bytes).indexOf('"ciphertextSha256":"') + '"ciphertextSha256":"'.length;
    bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
    const damaged = join(ev.dir, 'damaged.export.tar');
    writeFileSync(damaged, bytes);
    const { page, seen } = await open();
    await verify(page, [damaged], { ledger: ev.ledgerKey, device: ev.devicePin });
    expect(await page.getAttribute('#verdict', 'class')).toContain('verdict-tampered');
    expect(await shownText(page, '#archive-summary')).toMatch(/Container:\s+damaged$/);
    expect(await shownText(page, '#archive-title ~ .reasons')).toContain('summary-mismatch');
    expect(await shownText(page, '.counts')).toContain('1 tampered');
    expectQuiet(seen);
    await page.close();
  });

  it('a malformed pinned key is refused next to its field, before anything is checked', async () => {
    const { page, seen } = await open();
    await verify(page, [ev.bundle], { ledger: 'not-a-key' });
    expect(await page.textContent('#status')).toBe(
      'Not verified: "not-a-key" is not a 32-byte key in padded base64.',
    );
    expect(await page.getAttribute('#ledger-keys', 'aria-invalid')).toBe('true');
    expect(await page.isVisible('#ledger-error')).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('ledger-keys');
    expect(await page.locator('#verdict').count()).toBe(0);
    expectQuiet(seen);
    await page.close();
  });

  it('with the released keys, every envelope of the archive decrypts to what the device sealed', async () => {
    const { page, seen } = await open();
    await verify(page, [ev.archive, ev.keys], { ledger: ev.ledgerKey, device: ev.devicePin });
    const n = ev.records - 1;
    expect(await page.textContent('#decrypt-summary')).toBe(
      `Decrypted ${n} of ${n} records with ${ev.records} released keys.`,
    );
    // The record shown in detail: its full plaintext, byte for byte what the stub encrypted.
    const shown = await page.textContent('#record-title');
    const seq = Number(/\.(\d+) /.exec(shown ?? '')?.[1]);
    expect(await page.textContent('pre.reading')).toBe(ev.readings.get(seq));
    // Pick another record with the keyboard: its reading replaces the first.
    await page.focus('#record-pick');
    await page.keyboard.press('End');
    const last = [...ev.readings.keys()].filter((s) => s !== ev.gapSeq).at(-1) as number;
    await page.waitForFunction(
      (s) => document.querySelector('#record-title')?.textContent?.includes(`.${s} `),
      last,
    );
    expect(await page.textContent('pre.reading')).toBe(ev.readings.get(last));
    expectQuiet(seen);
    await page.close();
  });

  it('is usable by keyboard alone, with a visible focus ring on every stop, and lands on the result', async () => {
    const { page, seen } = await open();
    const focusStops: { id: string; outline: string }[] = [];
    const tab = async () => {
      await page.keyboard.press('Tab');
      focusStops.push(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          const st = getComputedStyle(el);
          return {
            id: el.id || el.className || el.tagName,
            outline: `${st.outlineStyle} ${st.outlineWidth}`,
          };
        }),
      );
      return focusStops.at(-1)?.id;
    };
    expect(await tab()).toBe('skip');
    expect(await tab()).toBe('files');
    const chooser = page.waitForEvent('filechooser');
    await page.keyboard.press('Space');
    await (await chooser).setFiles([ev.bundle, ev.envelope]);
    expect(await tab()).toBe('ledger-keys');
    await page.keyboard.type(ev.ledgerKey);
    expect(await tab()).toBe('device-keys');
    await page.keyboard.type(ev.devicePin);
    expect(await tab()).toBe('verify');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-state="done"]');
    // Focus moved to the result heading, which the live region's verdict accompanies.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('result-title');
    expect(await page.getAttribute('#status', 'aria-live')).toBe('polite');
    expect(await page.textContent('#status')).toBe('Verified. 1 record checked.');
    // The tree's scroll box is a tab stop too, so it can be scrolled without a mouse.
    expect(await tab()).toBe('scroll');
    for (const stop of focusStops) expect(stop.outline, stop.id).toMatch(/^solid (3|[4-9])px$/);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    // Every form control has a label.
    const unlabelled = await page.evaluate(
      () =>
        [...document.querySelectorAll('input, textarea, select')].filter(
          (el) => (el as HTMLInputElement).labels?.length === 0,
        ).length,
    );
    expect(unlabelled).toBe(0);
    expectQuiet(seen);
    await page.close();
  });

  it('fits a 375 px phone: nothing wider than the screen, text at least 16 px', async () => {
    const { page, seen } = await open();
    await page.setViewportSize({ width: 375, height: 812 });
    await verify(page, [ev.archive, ev.keys], { ledger: ev.ledgerKey, device: ev.devicePin });
    const size = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      font: Number.parseFloat(getComputedStyle(document.body).fontSize),
      widest: Math.max(
        ...[...document.querySelectorAll('body *')]
          .filter((el) => !el.closest('.scroll'))
          .map((el) => el.getBoundingClientRect().right),
      ),
    }));
    expect(size.scroll).toBeLessThanOrEqual(375);
    expect(size.widest).toBeLessThanOrEqual(375);
    expect(size.font).toBeGreaterThanOrEqual(16);
    expectQuiet(seen);
    await page.close();
  });

  it('GET /verify serves the same page without a token, with its Content-Security-Policy, and it works there', async () => {
    const res = await fetch(`${ev.runtime.info.baseUrl}/verify`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-/);
    expect(csp).toContain("connect-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(await res.text()).toBe(readFileSync(PAGE_PATH, 'utf8'));
    const url = `${ev.runtime.info.baseUrl}/verify`;
    const { page, seen } = await open(url);
    await verify(page, [ev.bundle], { ledger: ev.ledgerKey, device: ev.devicePin });
    expect(await page.textContent('#status')).toBe('Verified. 1 record checked.');
    // The hashes in the policy admit the inline script and style (else the page would not have run).
    expectQuiet(seen, url);
    await page.close();
  });
});
