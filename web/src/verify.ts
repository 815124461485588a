/**
 * The browser verifier's page logic: collect files (picked or dropped) and pinned keys, verify them with
 * verify-model.ts, draw the result with render.ts, announce the verdict in the live region and move focus to
 * the result so keyboard and screen-reader users land on it.
 */
import { renderFiles, renderReport, VERDICT } from './render.js';
import { type DroppedFile, loadFiles, parsePins, type Report, verifyMaterial } from './verify-model.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const form = $<HTMLFormElement>('form');
const input = $<HTMLInputElement>('files');
const drop = $<HTMLDivElement>('drop');
const chosenList = $<HTMLDivElement>('chosen');
const ledgerKeys = $<HTMLTextAreaElement>('ledger-keys');
const deviceKeys = $<HTMLTextAreaElement>('device-keys');
const status = $<HTMLParagraphElement>('status');
const reportBox = $<HTMLDivElement>('report');
const resultTitle = $<HTMLHeadingElement>('result-title');

let chosen: File[] = [];

function showChosen(): void {
  chosenList.replaceChildren();
  if (chosen.length === 0) return;
  const list = document.createElement('ul');
  for (const f of chosen) {
    const li = document.createElement('li');
    li.textContent = `${f.name} (${f.size} bytes)`;
    list.append(li);
  }
  const p = document.createElement('p');
  p.textContent = `${chosen.length} file${chosen.length === 1 ? '' : 's'} chosen:`;
  chosenList.append(p, list);
}

input.addEventListener('change', () => {
  chosen = [...(input.files ?? [])];
  showChosen();
});
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  chosen = [...chosen, ...(e.dataTransfer?.files ?? [])];
  showChosen();
});

function fieldError(id: 'ledger' | 'device', message: string | undefined): void {
  const el = $<HTMLParagraphElement>(`${id}-error`);
  const field = id === 'ledger' ? ledgerKeys : deviceKeys;
  el.hidden = message === undefined;
  el.textContent = message ?? '';
  if (message === undefined) field.removeAttribute('aria-invalid');
  else field.setAttribute('aria-invalid', 'true');
}

function announce(text: string): void {
  status.textContent = text;
}

function show(report: Report, notes: ReturnType<typeof loadFiles>['notes'], shown: number): void {
  const files = document.createElement('section');
  const h = document.createElement('h3');
  h.textContent = 'Files';
  files.append(h, renderFiles(notes));
  reportBox.replaceChildren(
    renderReport(report, shown, (i) => {
      show(report, notes, i);
      document.getElementById('record-title')?.scrollIntoView();
      document.getElementById('record-pick')?.focus();
    }),
    files,
  );
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  void run();
});

async function run(): Promise<void> {
  // A previous result stays only until this run says something new.
  reportBox.replaceChildren();
  fieldError('ledger', undefined);
  fieldError('device', undefined);
  const pins = parsePins(ledgerKeys.value, deviceKeys.value);
  if ('error' in pins) {
    fieldError(pins.error.field, pins.error.message);
    announce(`Not verified: ${pins.error.message}.`);
    (pins.error.field === 'ledger' ? ledgerKeys : deviceKeys).focus();
    document.body.dataset.state = 'done';
    return;
  }
  if (chosen.length === 0) {
    announce('Choose at least one file first.');
    input.focus();
    document.body.dataset.state = 'done';
    return;
  }
  document.body.dataset.state = 'busy';
  announce('Verifying…');
  try {
    const files: DroppedFile[] = await Promise.all(
      chosen.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
    );
    const material = loadFiles(files);
    const report = await verifyMaterial(material, pins.pins);
    // The first record that did not verify is the one worth seeing first.
    const firstBad = report.records.findIndex((r) => r.check.status !== 'verified');
    show(report, material.notes, Math.max(firstBad, 0));
    const v = VERDICT[report.status];
    const n = report.records.length;
    announce(
      `${v.title}. ${n ? `${n} record${n === 1 ? '' : 's'} checked.` : ''}${report.timeline?.gaps.length ? ` Gaps: ${report.timeline.gaps.length}.` : ''}`,
    );
  } catch (err) {
    reportBox.replaceChildren();
    announce(`Could not verify: ${(err as Error).message}`);
  } finally {
    document.body.dataset.state = 'done';
    resultTitle.focus();
  }
}

$<HTMLButtonElement>('clear').addEventListener('click', () => {
  chosen = [];
  input.value = '';
  showChosen();
  reportBox.replaceChildren();
  fieldError('ledger', undefined);
  fieldError('device', undefined);
  announce('Cleared. Choose files, then Verify.');
  input.focus();
});

document.body.dataset.state = 'ready';
