/**
 * Typed reads of a `node:sqlite` result row, shared by the SQLite adapters. A column of the wrong type means
 * the file was written by something else, so it is an error, never a default.
 */
import { StorageError } from '../../storage-error.js';
export type Row = Record<string, unknown>;

export const str = (r: Row, k: string): string => {
  const v = r[k];
  if (typeof v !== 'string') throw new StorageError('storage-malformed', `column ${k} is not text`);
  return v;
};

export const num = (r: Row, k: string): number => {
  const v = r[k];
  if (typeof v !== 'number') throw new StorageError('storage-malformed', `column ${k} is not a number`);
  return v;
};

export const optStr = (r: Row, k: string): string | undefined =>
  typeof r[k] === 'string' ? (r[k] as string) : undefined;

export const optNum = (r: Row, k: string): number | undefined =>
  typeof r[k] === 'number' ? (r[k] as number) : undefined;
