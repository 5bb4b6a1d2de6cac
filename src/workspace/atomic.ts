import * as fs from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** Writes a whole file through a temp file and a rename, so readers see the old or the new content. */
export function writeFileAtomic(file: string, data: string | Uint8Array, tmpDir = path.dirname(file)): void {
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  try {
    fs.mkdirSync(tmpDir, { recursive: true });
    fs.writeFileSync(tmp, data, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
