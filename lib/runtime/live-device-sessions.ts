/**
 * The embedded broker's DeviceSessions (lib/ports.ts): every connection that claims a device id, from the
 * moment its CONNECT starts to be authenticated until it closes. Tracking starts before the credential is
 * read, so a rotation that commits while a CONNECT is being checked against the old credential still finds
 * and closes that connection; a CONNECT checked after the commit reads the new credential.
 */
import type { DeviceSessions } from '../ports.js';

export interface Closable {
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

export class LiveDeviceSessions implements DeviceSessions {
  private readonly byDevice = new Map<string, Set<Closable>>();

  /** Called when a connection claiming `deviceId` begins authentication. */
  track(deviceId: string, conn: Closable): void {
    let set = this.byDevice.get(deviceId);
    if (!set) {
      set = new Set();
      this.byDevice.set(deviceId, set);
    }
    if (set.has(conn)) return;
    set.add(conn);
    conn.once('close', () => {
      const s = this.byDevice.get(deviceId);
      s?.delete(conn);
      if (s?.size === 0) this.byDevice.delete(deviceId);
    });
  }

  async disconnect(deviceId: string): Promise<number> {
    const set = this.byDevice.get(deviceId);
    if (!set) return 0;
    const conns = [...set];
    for (const c of conns) c.destroy();
    return conns.length;
  }

  /** Connections currently tracked for a device (tests, diagnostics). */
  count(deviceId: string): number {
    return this.byDevice.get(deviceId)?.size ?? 0;
  }
}
