import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashPoint } from '../core/crash-points.js';
import { processAlive } from '../storage/local-cache.js';

let counter = 0;

/** Writes a whole file through a temp file and a rename, so readers see the old or the new content. */
export function writeFileAtomic(file: string, data: string | Uint8Array, tmpDir = path.dirname(file)): void {
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  try {
    fs.mkdirSync(tmpDir, { recursive: true });
    fs.writeFileSync(tmp, data, { flag: 'wx' });
    crashPoint('atomic:rename');
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes temp files of `file` left by writeFileAtomic in processes that no longer exist. */
export function removeStaleTemps(file: string): void {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(/^(\d+)\.\d+\.tmp$/.exec(name.slice(prefix.length))?.[1]);
    if (pid > 0 && !processAlive(pid)) fs.rmSync(path.join(dir, name), { force: true });
  }
}
