/**
 * Admission of MQTT connections before they authenticate. Until a socket has authenticated it costs the
 * broker a socket, a client object and a timer, and nobody is accountable for it. So:
 *
 * - at most `maxPending` unauthenticated sockets at once, over every MQTT listener; a socket beyond that is
 *   closed as soon as it is accepted (a device refused this way reconnects like after any network drop);
 * - each socket must authenticate within `connectTimeoutMs` of being accepted, TLS handshake included, or it
 *   is closed.
 *
 * These refusals (and frames refused before authentication) are counted and logged as one summary line per
 * interval, never as one line or dead letter per socket: a flood must not become a flood of writes.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';

export interface AdmissionLimits {
  maxPending: number;
  connectTimeoutMs: number;
}

export type AdmissionRefusal =
  | 'too-many-pending'
  | 'connect-timeout'
  | 'frame-too-large'
  | 'connect-expected'
  | 'malformed-length';

interface Pending {
  socket: Socket;
  timer: NodeJS.Timeout;
}

// A TLS listener hands out a TLSSocket wrapping the accepted TCP socket; both report the same addresses,
// which identify one live connection on a listener.
function connectionKey(socket: Socket): string | undefined {
  if (socket.remoteAddress === undefined || socket.remotePort === undefined) return undefined;
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localPort}`;
}

export class MqttAdmission {
  private readonly pending = new Map<string, Pending>();
  private readonly sinceSummary = new Map<AdmissionRefusal, number>();
  private readonly totals = new Map<AdmissionRefusal, number>();
  private readonly summary: NodeJS.Timeout;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly log: Logger,
    summaryEveryMs = 10_000,
  ) {
    this.summary = setInterval(() => this.flushSummary(), summaryEveryMs);
    this.summary.unref();
  }

  /** A newly accepted TCP connection: counted as pending with a deadline, or closed at once. */
  admit(socket: Socket): boolean {
    const key = connectionKey(socket);
    if (key === undefined || this.pending.size >= this.limits.maxPending) {
      this.refused('too-many-pending');
      socket.destroy();
      return false;
    }
    const timer = setTimeout(() => {
      this.refused('connect-timeout');
      socket.destroy();
    }, this.limits.connectTimeoutMs);
    this.pending.set(key, { socket, timer });
    socket.once('close', () => {
      const p = this.pending.get(key);
      if (p?.socket === socket) this.release(key, p);
    });
    return true;
  }

  /** The connection (the accepted socket, or the TLS socket over it) authenticated: it is no longer pending. */
  authenticated(socket: Socket): void {
    const key = connectionKey(socket);
    const p = key === undefined ? undefined : this.pending.get(key);
    if (key !== undefined && p) this.release(key, p);
  }

  refused(code: AdmissionRefusal): void {
    this.sinceSummary.set(code, (this.sinceSummary.get(code) ?? 0) + 1);
    this.totals.set(code, (this.totals.get(code) ?? 0) + 1);
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /** Refusals since the broker started, by code. */
  refusals(): Partial<Record<AdmissionRefusal, number>> {
    return Object.fromEntries(this.totals);
  }

  close(): void {
    clearInterval(this.summary);
    this.flushSummary();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private release(key: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(key);
  }

  private flushSummary(): void {
    if (this.sinceSummary.size === 0) return;
    this.log.warn('broker refused unauthenticated connections', {
      refused: Object.fromEntries(this.sinceSummary),
      pending: this.pending.size,
      limits: this.limits,
    });
    this.sinceSummary.clear();
  }
}
