/**
 * SQLite rows of the index tables read as the stored forms of lib/model: columns are snake_case where the
 * stored forms are camelCase, a few columns have shorter names, and SQLite has no boolean (0 or 1). What a
 * field means and how a missing one reads is the model's (lib/model/*.ts), written once for both adapters.
 */
import type { z } from 'zod';
import { storedAuditEvent } from '../../model/audit-event.js';
import { storedBatch } from '../../model/batch.js';
import { storedDeadLetter } from '../../model/dead-letter.js';
import { storedDevice } from '../../model/device.js';
import { storedRecord } from '../../model/record.js';
import { decodeStored } from '../../model/stored-form.js';
import type { Row } from './sqlite-row.js';

/** Columns whose stored-form name is not simply their camelCase. */
const RENAMED: Readonly<Record<string, string>> = {
  ct_hash: 'ciphertextHash',
  ct_len: 'ciphertextLength',
  env_size: 'envelopeSize',
  inline_parts: 'inline',
  signing_keys: 'signingKeys',
  count: 'aggregateCount',
};

const BOOLEAN_COLUMNS = new Set(['allow_unsigned', 'truncated']);

const names = new Map<string, string>();
const nameOf = (column: string): string => {
  let name = names.get(column);
  if (name === undefined) {
    name = RENAMED[column] ?? column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    names.set(column, name);
  }
  return name;
};

function storedFormOf(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column in row) {
    const v = row[column];
    out[nameOf(column)] = BOOLEAN_COLUMNS.has(column) && typeof v === 'number' ? v === 1 : v;
  }
  return out;
}

/** A column of the wrong type means the file was written by something else: a TypeError, as sqlite-row.ts. */
const rowDecoder =
  <T>(schema: z.ZodType<T>) =>
  (row: Row): T =>
    decodeStored(schema, storedFormOf(row), (message) => new TypeError(message));

export const toRecord = rowDecoder(storedRecord);
export const toBatch = rowDecoder(storedBatch);
export const toDevice = rowDecoder(storedDevice);
export const toDeadLetter = rowDecoder(storedDeadLetter);
export const toAudit = rowDecoder(storedAuditEvent);
