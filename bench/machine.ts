/**
 * What the figures were measured on. Read from /proc where Linux has it, so a report from a CI box or a
 * laptop says which one it came from without anyone filling it in.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { resolve } from 'node:path';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the bench started: a busy neighbour shows here. */
  loadAvg: number;
  /** Filesystem the durable-write runs wrote to, e.g. "ext4 on /dev/vda". */
  dataDirFs: string;
  /** libuv's thread pool runs every file-system call of the object store; its size moves ingest figures. */
  uvThreadpool: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function cpuModel(): string {
  const info = readOr('/proc/cpuinfo', '');
  const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const flags = /^flags\s*:\s*(.+)$/m.exec(info)?.[1]?.split(' ') ?? [];
  // Every SHA-256 figure depends on whether OpenSSL can use the CPU's SHA instructions.
  const sha = flags.includes('sha_ni') ? 'SHA extensions (sha_ni)' : 'no SHA extensions';
  return flags.length ? `${model}, ${sha}` : model;
}

function osName(): string {
  const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readOr('/etc/os-release', ''));
  return `${m?.[1] ?? type()} (${type()} ${release()})`;
}

/** The mount that holds `dir`, by longest mount-point prefix in /proc/mounts. */
export function filesystemOf(dir: string): string {
  const abs = resolve(dir);
  let best: { point: string; desc: string } | undefined;
  for (const line of readOr('/proc/mounts', '').split('\n')) {
    const [dev, point, fs] = line.split(' ');
    if (!dev || !point || !fs) continue;
    const inside = abs === point || abs.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (!best || point.length > best.point.length)) best = { point, desc: `${fs} on ${dev}` };
  }
  return best?.desc ?? 'unknown';
}

export function machineInfo(dataDir: string): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osName(),
    loadAvg: loadavg()[0] ?? 0,
    dataDirFs: filesystemOf(dataDir),
    uvThreadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
  };
}
