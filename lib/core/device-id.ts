/**
 * Device ids appear in MQTT topics, object keys, record ids and AWS IoT thing names, so they are limited to a
 * set that is safe in all of them. '.' is excluded because record ids use it as the separator.
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isDeviceId(s: string): boolean {
  return DEVICE_ID_PATTERN.test(s);
}

/** A record is named by its device and sequence number: `<deviceId>.<seq>`. */
export function recordIdOf(deviceId: string, seq: number): string {
  return `${deviceId}.${seq}`;
}

export function parseRecordId(recordId: string): { deviceId: string; seq: number } | undefined {
  const dot = recordId.lastIndexOf('.');
  if (dot < 1) return undefined;
  const deviceId = recordId.slice(0, dot);
  const seqText = recordId.slice(dot + 1);
  if (!isDeviceId(deviceId) || !/^(0|[1-9][0-9]{0,15})$/.test(seqText)) return undefined;
  const seq = Number(seqText);
  return Number.isSafeInteger(seq) ? { deviceId, seq } : undefined;
}
