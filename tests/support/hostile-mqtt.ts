/**
 * What a hostile client does to an MQTT port before it ever authenticates, over plain sockets: a CONNECT
 * that declares the largest length MQTT can express and then streams bytes, and sockets that connect and
 * never finish their CONNECT. Used by the broker tests and by `npm run soak`.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** The largest remaining length MQTT's variable-length encoding can express: 268,435,455 bytes. */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;

/** Fixed header of a CONNECT declaring MQTT_MAX_REMAINING_LENGTH bytes to follow. */
export const OVERSIZED_CONNECT_HEADER = Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]);

export interface OpenSocket {
  socket: Socket;
  /** Resolves when the connection is closed, by either side. */
  closed: Promise<void>;
  isClosed(): boolean;
}

export async function openSocket(port: number, host = '127.0.0.1'): Promise<OpenSocket> {
  const socket = connect({ port, host });
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  // The server resetting us (ECONNRESET, EPIPE) is what several tests expect; the close event reports it.
  socket.on('error', () => undefined);
  await Promise.race([once(socket, 'connect'), closed]);
  return { socket, closed, isClosed: () => isClosed };
}

export interface FloodResult {
  /** Bytes handed to the socket after the header (the kernel may have dropped some once the server left). */
  sent: number;
  /** The server closed the connection before the client gave up waiting. */
  closedByServer: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends an oversized CONNECT header, then up to `bytes` of zeros in 64 KiB writes, honouring backpressure,
 * and waits up to `waitCloseMs` for the server to close the connection.
 */
export async function floodOversizedConnect(
  port: number,
  o: { bytes: number; waitCloseMs: number; host?: string },
): Promise<FloodResult> {
  const s = await openSocket(port, o.host);
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  s.socket.write(OVERSIZED_CONNECT_HEADER);
  while (sent < o.bytes && !s.isClosed()) {
    const ok = s.socket.write(chunk);
    sent += chunk.length;
    if (!ok) await Promise.race([once(s.socket, 'drain').catch(() => undefined), s.closed]);
  }
  const closedByServer = await Promise.race([
    s.closed.then(() => true),
    sleep(o.waitCloseMs).then(() => false),
  ]);
  s.socket.destroy();
  return { sent, closedByServer };
}

/** A socket that starts a CONNECT (declaring 32 bytes) and never sends the rest. */
export async function openStalledConnect(port: number, host?: string): Promise<OpenSocket> {
  const s = await openSocket(port, host);
  s.socket.write(Buffer.from([0x10, 0x20, 0x00, 0x04, 0x4d, 0x51]));
  return s;
}
