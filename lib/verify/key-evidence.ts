/**
 * Which key events a proof must carry for the leaves it proves (docs/device-keys.md): for every key that
 * signed one of them, the event that introduced it (a register, or a rotation, and then recursively the key
 * that rotation came from), and every event that retired any key of that chain (a revoke, or a rotation away
 * from it). Without a retiring event a verifier could not see that a key was revoked before it signed, so all
 * of them are carried, also those after the leaf. The events keep the device log's acceptance order, which is
 * the order a verifier looks them up in.
 */
import { fromBase64, toHex } from '../core/bytes.js';
import { parseKeyEvent } from '../core/key-event.js';
import type { StatementEntry, StatementStore } from '../ports.js';

const PAGE = 500;

/** Every key event of the device, in acceptance order. */
export async function deviceKeyEvents(
  statements: StatementStore,
  deviceId: string,
): Promise<StatementEntry[]> {
  const out: StatementEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await statements.listKeyEvents(deviceId, {
      limit: PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}

interface Parsed {
  entry: StatementEntry;
  type: 'register' | 'rotate' | 'revoke';
  subject: string;
  /** For a rotation: the key it rotates away from. */
  from?: string;
}

/** The events of `events` (one device's, in order) that the signing keys `keyIds` need, in the same order. */
export function keyEventsFor(events: readonly StatementEntry[], keyIds: Iterable<string>): StatementEntry[] {
  const parsed: Parsed[] = [];
  for (const entry of events) {
    const bytes = fromBase64(entry.leaf);
    const p = bytes ? parseKeyEvent(bytes) : undefined;
    // Stored events were built or checked by the backend; one that no longer parses cannot serve as evidence.
    if (!p?.ok) continue;
    const e = p.event;
    parsed.push({
      entry,
      type: e.type,
      subject: toHex(p.keyId),
      ...(e.type === 'rotate' ? { from: toHex(e.oldKeyId) } : {}),
    });
  }
  const chosen = new Set<Parsed>();
  const seen = new Set<string>();
  const queue = [...keyIds];
  for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
    if (seen.has(k)) continue;
    seen.add(k);
    for (const p of parsed) {
      const introduces = p.type !== 'revoke' && p.subject === k;
      const retires = (p.type === 'revoke' && p.subject === k) || (p.type === 'rotate' && p.from === k);
      if (introduces || retires) chosen.add(p);
      if (introduces && p.from !== undefined) queue.push(p.from);
    }
  }
  return parsed.filter((p) => chosen.has(p)).map((p) => p.entry);
}
