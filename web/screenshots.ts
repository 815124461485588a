/**
 * Screenshots of the browser verifier for the README (docs/images/verify-*.png): a verified and a tampered
 * proof bundle, each on a desktop and on a 375 px phone. The evidence is real (tests/support/web-evidence.ts:
 * the runtime as a child process, records from the device stub) and the browser is Debian's Chromium.
 *
 *   npm run screenshots
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../tests/support/browser.js';
import { makeWebEvidence } from '../tests/support/web-evidence.js';
import { REPO_DIR, writeVerifierPage } from './build.js';

const OUT = join(REPO_DIR, 'docs', 'images');

const VIEWPORTS = {
  desktop: { width: 1200, height: 900 },
  phone: { width: 375, height: 812 },
} as const;

async function main(): Promise<void> {
  const page = await writeVerifierPage();
  const browser = await launchChromium();
  const ev = await makeWebEvidence();
  try {
    mkdirSync(OUT, { recursive: true });
    const cases = {
      verified: [ev.bundle, ev.envelope],
      tampered: [ev.tamperedBundle],
    };
    for (const [name, files] of Object.entries(cases)) {
      for (const [device, viewport] of Object.entries(VIEWPORTS)) {
        const tab = await browser.context.newPage();
        await tab.setViewportSize(viewport);
        await tab.goto(pathToFileURL(page.path).href);
        await tab.setInputFiles('#files', files);
        await tab.fill('#ledger-keys', ev.ledgerKey);
        await tab.fill('#device-keys', ev.devicePin);
        await tab.click('#verify');
        await tab.waitForSelector('body[data-state="done"]');
        // From the result down, which is what the picture is for; the form above is the same in all four.
        const result = await tab.$('#result');
        const path = join(OUT, `verify-${name}-${device}.png`);
        await result?.screenshot({ path });
        console.log(`wrote ${path}`);
        await tab.close();
      }
    }
  } finally {
    await browser.close();
    await ev.stop();
  }
}

await main();
