/**
 * CPU profiles of just the timed part of a bench (`npm run bench -- --cpu-prof DIR`). `node --cpu-prof`
 * profiles the whole process, where start-up, sealing rounds and clean-up drown the part that matters.
 * The files open in Chrome DevTools (Performance tab) or speedscope.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export interface RunningProfile {
  stop(): Promise<string>;
}

export async function startProfile(dir: string, name: string): Promise<RunningProfile> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.cpuprofile`);
      writeFileSync(path, JSON.stringify(profile));
      return path;
    },
  };
}
