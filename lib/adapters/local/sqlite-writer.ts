/**
 * The one writer of an embedded SQLite file, on its own thread.
 *
 * node:sqlite is synchronous, and a durable COMMIT waits for fsync: on the event loop that wait stalls the
 * broker and every other device for as long as the disk takes (BENCHMARKS.md measured 40% of the main
 * thread inside COMMIT). Here writes are queued and go to a worker thread, which runs them as one transaction
 * with one fsync while the main thread keeps parsing MQTT: everything queued in one turn of the event loop
 * when the worker is idle, else everything queued while its current transaction commits (group commit).
 * Reads stay on the caller's own connection: WAL lets them see every committed write without waiting for the
 * writer.
 *
 * Each job is a list of statements applied atomically (a SAVEPOINT inside the group's transaction): a job
 * that fails is rolled back alone and its promise rejects; the others still commit.
 */

import type { SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { StorageError } from '../../storage-error.js';
import { sqliteUnavailable } from '../storage-failure.js';

export interface WriteStatement {
  sql: string;
  params: SQLInputValue[];
  /** Run when the statement changed no row (e.g. INSERT ... ON CONFLICT DO NOTHING): its first row is returned. */
  ifUnchanged?: { sql: string; params: SQLInputValue[] };
}

export interface StatementResult {
  changes: number;
  lastInsertRowid: number;
  row?: Record<string, unknown>;
}

/**
 * Plain JavaScript so the worker needs no TypeScript loader, whichever way the process was started (tsx,
 * vitest, a bundle). It prepares each distinct SQL once.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = ' + (workerData.durable ? 'FULL' : 'OFF'));
const cache = new Map();
const prep = (sql) => { let s = cache.get(sql); if (!s) { s = db.prepare(sql); cache.set(sql, s); } return s; };
parentPort.postMessage({ ready: true });
parentPort.on('message', (msg) => {
  if (msg.close) { db.close(); parentPort.postMessage({ closed: true }); return; }
  const results = new Array(msg.jobs.length);
  try {
    db.exec('BEGIN IMMEDIATE');
    msg.jobs.forEach((job, i) => {
      db.exec('SAVEPOINT job');
      try {
        const out = [];
        for (const st of job) {
          const r = prep(st.sql).run(...st.params);
          const res = { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
          if (st.ifUnchanged && res.changes === 0) res.row = prep(st.ifUnchanged.sql).get(...st.ifUnchanged.params);
          out.push(res);
        }
        db.exec('RELEASE job');
        results[i] = { ok: out };
      } catch (e) {
        db.exec('ROLLBACK TO job'); db.exec('RELEASE job');
        results[i] = { error: String(e && e.message || e), errcode: e && e.errcode };
      }
    });
    db.exec('COMMIT');
  } catch (e) {
    try { if (db.isTransaction) db.exec('ROLLBACK'); } catch {}
    const error = 'transaction failed: ' + String(e && e.message || e);
    for (let i = 0; i < results.length; i++) results[i] = { error, errcode: e && e.errcode };
  }
  parentPort.postMessage({ id: msg.id, results });
});
`;

interface Job {
  statements: WriteStatement[];
  resolve: (r: StatementResult[]) => void;
  reject: (e: Error) => void;
}

/** One transaction committing at a time; see send(). */
const MAX_TRANSACTIONS_IN_FLIGHT = 1;

type WorkerReply =
  | { ready: true }
  | { closed: true }
  | { id: number; results: ({ ok: StatementResult[] } | { error: string; errcode?: number })[] };

/**
 * A write the worker could not do. `sqliteCode` is SQLite's (extended) result code when SQLite gave one, so that
 * storageFailureOf (storage-failure.ts) can tell a busy or failing file from a refused statement.
 */
export class SqliteWriteError extends StorageError {
  override readonly name = 'SqliteWriteError';
  readonly sqliteCode?: number;
  constructor(message: string, sqliteCode?: number) {
    super(
      sqliteCode !== undefined && sqliteUnavailable(sqliteCode) !== undefined
        ? 'storage-unavailable'
        : 'storage-refused',
      message,
    );
    if (sqliteCode !== undefined) this.sqliteCode = sqliteCode;
  }
}

export class SqliteWriter {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private queue: Job[] = [];
  private scheduled = false;
  private nextId = 1;
  private readonly inFlight = new Map<number, Job[]>();
  private closing: Promise<void> | undefined;
  private failure: Error | undefined;

  /** The caller creates the schema on its own connection first; the writer only writes. */
  constructor(opts: { path: string; durable: boolean }) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path: opts.path, durable: opts.durable },
    });
    // A writer that dies takes every pending write with it, loudly: callers see rejections, not silence.
    this.worker.on('error', (e) => this.fail(e instanceof Error ? e : new Error(String(e))));
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        if ('ready' in m) resolve();
        else if ('id' in m) this.settle(m);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
  }

  /** Resolves once the worker has opened the database. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Runs the statements atomically in the next group commit; resolves after the commit is durable. */
  write(statements: WriteStatement[]): Promise<StatementResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new SqliteWriteError('writer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ statements, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  private send(): void {
    this.scheduled = false;
    // Group commit: while one transaction is being committed, what arrives waits and goes as the next one.
    // Sent at once instead, each turn's few writes would queue in the worker as a transaction of their own,
    // each with its own fsync: under load the disk, not the CPU, would set the pace. settle() sends the rest.
    if (this.inFlight.size >= MAX_TRANSACTIONS_IN_FLIGHT) return;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0) return;
    const id = this.nextId++;
    this.inFlight.set(id, jobs);
    this.ready.then(
      () => this.worker.postMessage({ id, jobs: jobs.map((j) => j.statements) }),
      (e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))),
    );
  }

  private settle(m: Extract<WorkerReply, { id: number }>): void {
    const jobs = this.inFlight.get(m.id);
    if (!jobs) return;
    this.inFlight.delete(m.id);
    // The next group goes before these callers run, so the worker is not idle while they do.
    if (this.queue.length > 0 && !this.failure) this.send();
    jobs.forEach((job, i) => {
      const r = m.results[i];
      if (r && 'ok' in r) job.resolve(r.ok);
      else job.reject(new SqliteWriteError(r?.error ?? 'no result from the writer', r?.errcode));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const jobs of this.inFlight.values()) for (const j of jobs) j.reject(e);
    this.inFlight.clear();
    for (const j of this.queue) j.reject(e);
    this.queue = [];
  }

  /** Writes what is queued, waits for it, then closes the database and stops the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.send();
      while (this.inFlight.size > 0 || this.queue.length > 0) {
        this.send();
        await new Promise<void>((resolve) => {
          const check = () => (this.inFlight.size === 0 ? resolve() : setTimeout(check, 1));
          check();
        });
      }
      await this.ready.catch(() => undefined);
      await new Promise<void>((resolve) => {
        const onClosed = (m: WorkerReply) => {
          if ('closed' in m) resolve();
        };
        this.worker.on('message', onClosed);
        this.worker.once('exit', () => resolve());
        this.worker.postMessage({ close: true });
      });
      await this.worker.terminate();
    })();
    return this.closing;
  }
}
