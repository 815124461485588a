/**
 * Draws a Report (verify-model.ts) into the page. Every value from a file goes in as text (textContent or an
 * SVG text node), never as markup, so a hostile bundle cannot inject anything; the page's CSP forbids inline
 * handlers and foreign scripts besides.
 */
import type { VerifyStatus } from '../../lib/core/anchor-check.js';
import { inclusionPath } from './inclusion-path.js';
import type { FileNote, RecordResult, Report, Timeline } from './verify-model.js';

type Child = Node | string | undefined | false;

export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

export const VERDICT: Record<VerifyStatus | 'nothing', { title: string; text: string; mark: string }> = {
  verified: { title: 'Verified', text: 'Every check passed, against the keys you pinned.', mark: '✓' },
  unpinned: {
    title: 'Consistent, keys not pinned',
    text: 'Every check passed, but against keys the evidence carries itself. Pin the ledger key (GET /v1/chains) and the device keys you trust to turn this into a proof.',
    mark: '!',
  },
  pending: {
    title: 'Pending',
    text: 'Not anchored yet, or a key event is not: fetch the proof again after the next anchoring.',
    mark: '…',
  },
  tampered: {
    title: 'Tampered',
    text: 'Something in the evidence was changed or does not fit together: see the reasons below.',
    mark: '✗',
  },
  missing: {
    title: 'Missing',
    text: 'Records or stored objects are missing: see the gaps and reasons below.',
    mark: '✗',
  },
  nothing: {
    title: 'Nothing to verify',
    text: 'None of the files is a proof bundle, document or archive.',
    mark: '?',
  },
};

const iso = (ms: number | undefined) => (ms === undefined ? 'unknown' : new Date(ms).toISOString());
const short = (hex: string) => (hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex);

function badge(status: string, text = status): HTMLElement {
  return h('span', { class: `badge badge-${status}` }, text);
}

export function renderFiles(notes: readonly FileNote[]): HTMLElement {
  return h(
    'ul',
    { class: 'files' },
    ...notes.map((n) =>
      h(
        'li',
        {},
        h('span', { class: 'file-name' }, n.name),
        ' ',
        badge(n.kind === 'unusable' ? 'tampered' : 'info', n.kind),
        ' ',
        n.detail,
      ),
    ),
  );
}

function row(term: string, verdict: string, badgeClass: string, ...detail: Child[]): HTMLElement[] {
  return [h('dt', {}, term), h('dd', {}, badge(badgeClass, verdict), ' ', ...detail)];
}

const proofClass = (v: string) =>
  v === 'proven' || v === 'complete'
    ? 'verified'
    : v === 'unpinned' || v === 'unproven'
      ? 'unpinned'
      : v === 'invalid' || v === 'incomplete'
        ? 'tampered'
        : 'pending';

/** What the evidence proves, one property at a time. */
function renderProves(report: Report): HTMLElement {
  const rs = report.records;
  const dl = h('dl', { class: 'proves' });
  const one = rs.length === 1 ? rs[0] : undefined;
  if (one) {
    const p = one.check.proven;
    dl.append(
      ...row(
        'Integrity',
        p.integrity,
        proofClass(p.integrity),
        'header, stored object (when given) and inclusion proof.',
      ),
      ...row(
        'Existence time',
        p.existence.verdict,
        proofClass(p.existence.verdict),
        p.existence.chainId
          ? `existed by ${iso(p.existence.notAfter)} on ${p.existence.chainId}.`
          : 'no anchor checks.',
      ),
      ...row(
        'Origin',
        p.origin.verdict,
        proofClass(p.origin.verdict),
        p.origin.keyId
          ? `signed by device key ${short(p.origin.keyId)}.`
          : 'the record carries no device signature.',
        p.origin.reasons.length ? ` ${p.origin.reasons.map((r) => r.message).join('; ')}` : '',
      ),
    );
  } else if (rs.length > 1) {
    const n = rs.length;
    const count = (f: (r: RecordResult) => boolean) => rs.filter(f).length;
    const integrity = count((r) => r.check.proven.integrity === 'proven');
    const existence = count((r) => r.check.proven.existence.verdict === 'proven');
    const times = rs
      .map((r) => r.check.proven.existence.notAfter)
      .filter((t): t is number => t !== undefined);
    const origin = count((r) => r.check.proven.origin.verdict === 'proven');
    dl.append(
      ...row(
        'Integrity',
        `${integrity} of ${n}`,
        integrity === n ? 'verified' : 'tampered',
        'records whose header, object and inclusion check.',
      ),
      ...row(
        'Existence time',
        `${existence} of ${n}`,
        existence === n ? 'verified' : 'unpinned',
        times.length
          ? `anchored between ${iso(Math.min(...times))} and ${iso(Math.max(...times))}.`
          : 'no anchor checks.',
      ),
      ...row(
        'Origin',
        `${origin} of ${n}`,
        origin === n ? 'verified' : 'unpinned',
        'records signed by a key that chains to a pinned device key.',
      ),
    );
  }
  const c = report.completeness;
  if (c) {
    const missing = c.missing.map((m) =>
      m.fromSeq === m.toSeq ? `${m.fromSeq}` : `${m.fromSeq}–${m.toSeq}`,
    );
    dl.append(
      ...row(
        'Completeness',
        c.outcome,
        proofClass(c.outcome),
        `seq ${c.range.fromSeq}–${c.range.toSeq} of ${c.deviceId}; head ${c.head.status}`,
        missing.length ? `; missing ${missing.join(', ')}` : '; nothing missing',
        c.chainBreaks.length ? `; broken links at ${c.chainBreaks.map((b) => b.seq).join(', ')}` : '',
        '.',
      ),
    );
  } else if (rs.length > 0) {
    dl.append(
      ...row(
        'Completeness',
        'not covered',
        'pending',
        'a bundle covers one record; add the completeness document (or an export archive holding it).',
      ),
    );
  }
  return dl;
}

function renderReasons(
  title: string,
  reasons: readonly { code: string; message: string }[],
): HTMLElement | undefined {
  if (reasons.length === 0) return undefined;
  return h(
    'div',
    {},
    h('h3', {}, title),
    h(
      'ul',
      { class: 'reasons' },
      ...reasons.slice(0, 50).map((r) => h('li', {}, h('code', {}, r.code), ': ', r.message)),
    ),
  );
}

const COLORS: Record<VerifyStatus, string> = {
  verified: '#1b6e35',
  unpinned: '#875400',
  pending: '#39577e',
  tampered: '#b3261e',
  missing: '#b3261e',
};

/** The device's records along the sequence axis: records by status, gaps, and where batches were anchored. */
export function renderTimeline(t: Timeline): HTMLElement {
  const W = 1000;
  const left = 10;
  const width = W - 2 * left;
  const span = Math.max(1, t.toSeq - t.fromSeq + 1);
  const x = (seq: number) => left + ((seq - t.fromSeq) / span) * width;
  const cell = Math.max(width / span, 1);
  const titleId = `tl-title-${t.deviceId}`;
  const descId = `tl-desc-${t.deviceId}`;
  const gapText = t.gaps.map((g) => (g.fromSeq === g.toSeq ? `${g.fromSeq}` : `${g.fromSeq}–${g.toSeq}`));
  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} 120`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, class: 'timeline' },
    s('title', { id: titleId }, `Timeline of ${t.deviceId}, seq ${t.fromSeq} to ${t.toSeq}`),
    s(
      'desc',
      { id: descId },
      `${t.records.length} records, ${t.gaps.length ? `gaps at ${gapText.join(', ')}` : 'no gaps'}, ${t.anchors.length} anchored batches.`,
    ),
    s('line', { x1: left, y1: 60, x2: W - left, y2: 60, stroke: '#555', 'stroke-width': 1 }),
  );
  // Many records share a pixel: one mark per pixel column, in the worst status of its records.
  const columns = new Map<number, VerifyStatus>();
  const order: VerifyStatus[] = ['verified', 'unpinned', 'pending', 'missing', 'tampered'];
  for (const r of t.records) {
    const col = Math.floor(x(r.seq));
    const prev = columns.get(col);
    if (!prev || order.indexOf(r.status) > order.indexOf(prev)) columns.set(col, r.status);
  }
  for (const [col, status] of columns)
    svg.append(
      s('rect', {
        x: col,
        y: 40,
        width: Math.max(cell - 1, 1),
        height: 40,
        fill: COLORS[status],
        class: `tl-${status}`,
      }),
    );
  for (const g of t.gaps) {
    const gx = x(g.fromSeq);
    const gw = Math.max(x(g.toSeq + 1) - gx, 4);
    svg.append(
      s(
        'rect',
        {
          x: gx,
          y: 32,
          width: gw,
          height: 56,
          fill: '#fff',
          stroke: '#b3261e',
          'stroke-width': 3,
          'stroke-dasharray': '5 3',
          class: 'tl-gap',
        },
        s('title', {}, `gap: seq ${g.fromSeq === g.toSeq ? g.fromSeq : `${g.fromSeq}–${g.toSeq}`}`),
      ),
      s(
        'text',
        { x: gx + gw / 2, y: 24, 'text-anchor': 'middle', class: 'tl-label', fill: '#b3261e' },
        `gap ${g.fromSeq === g.toSeq ? g.fromSeq : `${g.fromSeq}–${g.toSeq}`}`,
      ),
    );
  }
  for (const a of t.anchors) {
    const ax = x(a.seq) + cell / 2;
    svg.append(
      s(
        'path',
        { d: `M ${ax} 86 l 6 12 l -12 0 z`, fill: '#222', class: 'tl-anchor' },
        s(
          'title',
          {},
          `batch anchored on ${a.chainId} after seq ${a.seq}${a.time ? ` at ${iso(a.time)}` : ''}`,
        ),
      ),
    );
  }
  svg.append(
    s('text', { x: left, y: 116, class: 'tl-label', fill: '#222' }, `seq ${t.fromSeq}`),
    s(
      'text',
      { x: W - left, y: 116, 'text-anchor': 'end', class: 'tl-label', fill: '#222' },
      `seq ${t.toSeq}`,
    ),
  );
  const list = h(
    'ul',
    { class: 'tl-list' },
    h(
      'li',
      {},
      `${t.records.length} record${t.records.length === 1 ? '' : 's'} of ${t.deviceId} from seq ${t.fromSeq} to ${t.toSeq}.`,
    ),
    h(
      'li',
      { class: t.gaps.length ? 'gap-text' : '' },
      t.gaps.length ? `Gaps: seq ${gapText.join(', ')}.` : 'No gaps.',
    ),
    ...t.anchors
      .slice(0, 20)
      .map((a) =>
        h('li', {}, `Anchor on ${a.chainId} after seq ${a.seq}${a.time ? `, ${iso(a.time)}` : ''}.`),
      ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'timeline-title' },
    h('h3', { id: 'timeline-title' }, 'Device timeline'),
    h(
      'div',
      { class: 'legend', 'aria-hidden': 'true' },
      ...order.map((st) => h('span', { class: `key key-${st}` }, st)),
      h('span', { class: 'key key-gap' }, 'gap'),
      h('span', { class: 'key key-anchor' }, 'anchor'),
    ),
    svg,
    list,
  );
}

/** The inclusion proof as a tree: the path nodes the verifier computes, the sibling hashes the proof gives. */
export function renderInclusionTree(r: RecordResult): HTMLElement | undefined {
  const inc = r.bundle.inclusion;
  if (!inc) return undefined;
  const path = inclusionPath(r.bundle.record.recordHash, inc);
  if (!path) return h('p', {}, 'The inclusion proof is malformed; it cannot be drawn.');
  const levels = path.steps.length;
  const rowH = 64;
  const W = 720;
  const boxW = 250;
  const colX = { left: 60, right: W - 60 - boxW, center: (W - boxW) / 2 };
  const H = (levels + 1) * rowH + 30;
  const y = (level: number) => H - 20 - (level + 1) * rowH + 10;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': 'tree-title tree-desc',
    class: 'tree',
  });
  svg.append(
    s(
      'title',
      { id: 'tree-title' },
      `Inclusion of ${r.recordId}: leaf ${path.leafIndex} of ${path.treeSize}`,
    ),
    s(
      'desc',
      { id: 'tree-desc' },
      `${levels} sibling hashes lead from the record's leaf hash to the root ${short(path.computedRoot)}, which ${path.matches ? 'is' : 'is not'} the batch root the proof claims.`,
    ),
  );
  const node = (x: number, yy: number, label: string, hash: string, kind: string) =>
    s(
      'g',
      { class: `node node-${kind}` },
      s('rect', { x, y: yy, width: boxW, height: 40, rx: 6 }),
      s('text', { x: x + 10, y: yy + 17, class: 'node-label' }, label),
      s('text', { x: x + 10, y: yy + 33, class: 'node-hash' }, short(hash)),
      s('title', {}, `${label}: ${hash}`),
    );
  // The path node of each level sits opposite its sibling; the root in the middle.
  let pathCol: keyof typeof colX = path.steps[0]?.side === 'left' ? 'right' : levels ? 'left' : 'center';
  const nodes: SVGElement[] = [];
  const lines: SVGElement[] = [];
  nodes.push(node(colX[pathCol], y(0), `leaf ${path.leafIndex} (this record)`, path.leaf, 'leaf'));
  path.steps.forEach((step, i) => {
    const sibCol: keyof typeof colX = step.side;
    nodes.push(node(colX[sibCol], y(i), 'sibling from the proof', step.sibling, 'sibling'));
    const isRoot = i === levels - 1;
    const next = path.steps[i + 1];
    const parentCol: keyof typeof colX = isRoot ? 'center' : next?.side === 'left' ? 'right' : 'left';
    const parentY = y(i + 1);
    const kind = isRoot ? (path.matches ? 'root' : 'root-bad') : 'path';
    nodes.push(
      node(
        colX[parentCol],
        parentY,
        isRoot
          ? path.matches
            ? 'root = batch root ✓'
            : 'root ≠ claimed root ✗'
          : `computed node, level ${i + 1}`,
        step.parent,
        kind,
      ),
    );
    for (const c of [pathCol, sibCol])
      lines.push(
        s('line', {
          x1: colX[parentCol] + boxW / 2,
          y1: parentY + 40,
          x2: colX[c] + boxW / 2,
          y2: y(i),
          class: c === pathCol ? 'edge edge-path' : 'edge',
        }),
      );
    pathCol = parentCol;
  });
  svg.append(...lines, ...nodes);
  return h(
    'section',
    { 'aria-labelledby': 'tree-heading' },
    h('h3', { id: 'tree-heading' }, 'Inclusion path'),
    h(
      'div',
      { class: 'scroll', tabindex: '0', role: 'group', 'aria-label': 'Inclusion tree (scrolls sideways)' },
      svg,
    ),
    h(
      'ol',
      { class: 'path-steps' },
      h('li', {}, `Leaf hash of the record: ${path.leaf}`),
      ...path.steps.map((st) =>
        h('li', {}, `With the sibling on the ${st.side}, ${st.sibling}, the node is ${st.parent}`),
      ),
      h(
        'li',
        {},
        `Batch root in the proof: ${path.claimedRoot} (${path.matches ? 'matches' : 'does not match'})`,
      ),
    ),
  );
}

function renderReading(r: RecordResult): Child {
  switch (r.reading.state) {
    case 'decrypted':
      return h('pre', { class: 'reading' }, r.reading.text);
    case 'failed':
      return h('p', { class: 'bad' }, `Could not decrypt: ${r.reading.message}`);
    case 'no-envelope':
      return h(
        'p',
        {},
        'A key was given, but not the envelope: add it (or an archive with envelopes) to decrypt.',
      );
    case 'no-key':
      return undefined;
  }
}

/** One record in detail: its checks, reasons, inclusion tree and decrypted reading. */
export function renderRecord(r: RecordResult): HTMLElement {
  const c = r.check;
  return h(
    'section',
    { class: 'record', 'aria-labelledby': 'record-title' },
    h('h3', { id: 'record-title' }, `Record ${r.recordId} `, badge(c.status)),
    h(
      'ul',
      { class: 'checks' },
      h('li', {}, `Device time: ${iso(r.timestamp)}`),
      h('li', {}, `Header: ${c.checks.header}`),
      h('li', {}, `Stored object: ${c.checks.object}${r.envelope ? '' : ' (add the envelope to check it)'}`),
      h('li', {}, `Inclusion: ${c.checks.inclusion}`),
      ...c.checks.anchors.map((a) =>
        h(
          'li',
          {},
          `Anchor on ${a.chainId}: ${a.status}${a.trust ? ` (${a.trust})` : ''}${a.time ? `, ${iso(a.time)}` : ''}`,
        ),
      ),
    ),
    renderReasons('Reasons', c.reasons),
    renderInclusionTree(r),
    r.reading.state === 'no-key' ? undefined : h('h4', {}, 'Decrypted reading'),
    renderReading(r),
  );
}

function renderTable(report: Report): HTMLElement {
  const rows = report.records.slice(0, 500);
  return h(
    'div',
    { class: 'scroll', tabindex: '0', role: 'group', 'aria-label': 'Records (scrolls sideways)' },
    h(
      'table',
      {},
      h(
        'caption',
        {},
        `Records${report.records.length > rows.length ? ` (first ${rows.length} of ${report.records.length})` : ''}`,
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Seq', 'Device time', 'Status', 'Origin', 'Reading'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        ...rows.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, String(r.seq)),
            h('td', {}, iso(r.timestamp)),
            h('td', {}, badge(r.check.status)),
            h('td', {}, r.check.proven.origin.verdict),
            h(
              'td',
              { class: 'cell-reading' },
              r.reading.state === 'decrypted'
                ? r.reading.text.slice(0, 80)
                : r.reading.state === 'failed'
                  ? 'decryption failed'
                  : r.reading.state === 'no-envelope'
                    ? 'no envelope'
                    : '—',
            ),
          ),
        ),
      ),
    ),
  );
}

/** The whole result; `onPick` is called when the user picks another record to show in detail. */
export function renderReport(report: Report, shown: number, onPick: (i: number) => void): HTMLElement {
  const v = VERDICT[report.status];
  const out = h(
    'div',
    {},
    h(
      'div',
      { class: `verdict verdict-${report.status}`, id: 'verdict' },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, v.mark),
      h('div', {}, h('p', { class: 'verdict-title' }, v.title), h('p', {}, v.text)),
    ),
    h('h3', {}, 'What it proves'),
    renderProves(report),
  );
  const c = report.counts;
  if (report.records.length > 1)
    out.append(
      h(
        'p',
        { class: 'counts' },
        `${report.records.length} records: ${Object.entries(c)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')}.`,
      ),
    );
  const d = report.decrypted;
  if (d.keys > 0)
    out.append(
      h(
        'p',
        { class: 'counts', id: 'decrypt-summary' },
        `Decrypted ${d.ok} of ${report.records.length} records with ${d.keys} released keys${d.failed ? `; ${d.failed} failed` : ''}${d.withoutEnvelope ? `; ${d.withoutEnvelope} without envelope` : ''}.`,
      ),
    );
  const a = report.archive;
  if (a) {
    const x = a.check;
    const m = x.manifest;
    const gaps = x.missing.count;
    out.append(
      h(
        'section',
        { 'aria-labelledby': 'archive-title' },
        h('h3', { id: 'archive-title' }, 'Archive'),
        h(
          'p',
          { id: 'archive-summary' },
          `${a.name}: export of ${m.deviceId}, seq ${m.range.fromSeq}–${m.range.toSeq}; ${m.records} records announced, ${x.records.checked} checked, ${x.records.envelopes.checked} with their envelope; ${gaps} seq${gaps === 1 ? '' : 's'} missing. Container: `,
          badge(x.archive.status === 'intact' ? 'verified' : 'tampered', x.archive.status),
        ),
        x.archive.problems.length
          ? h(
              'ul',
              { class: 'reasons' },
              ...x.archive.problems.map((p) => h('li', {}, h('code', {}, p.code), ': ', p.message)),
            )
          : undefined,
        x.completeness.included
          ? undefined
          : h('p', {}, `No completeness document: ${x.completeness.reason}.`),
      ),
    );
  }
  if (report.completeness)
    out.append(renderReasons('Completeness document: reasons', report.completeness.reasons) ?? '');
  if (report.timeline) out.append(renderTimeline(report.timeline));
  if (report.records.length > 1) {
    out.append(renderTable(report));
    const select = h('select', { id: 'record-pick' }) as HTMLSelectElement;
    report.records.forEach((r, i) => {
      const o = h('option', { value: String(i) }, `${r.recordId} (${r.check.status})`) as HTMLOptionElement;
      if (i === shown) o.selected = true;
      select.append(o);
    });
    select.addEventListener('change', () => onPick(Number(select.value)));
    out.append(
      h('p', { class: 'pick' }, h('label', { for: 'record-pick' }, 'Record shown in detail '), select),
    );
  }
  const r = report.records[shown];
  if (r) out.append(renderRecord(r));
  return out;
}
