/**
 * Case-insensitive (macOS, Windows, ext4 casefold) and Unicode-normalising (macOS) file systems
 * give two different names one file: `A` and `a`, or the NFC and NFD spellings of `é`. Before
 * writing a set of paths, mlv probes the file system once per folder and refuses a set in which
 * two paths would land on the same file, so one entry never silently overwrites another.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { displayPath } from '../core/paths.js';

export interface NameFolding {
  caseInsensitive: boolean;
  normalizesUnicode: boolean;
}

const probed = new Map<string, NameFolding>();
let probeCounter = 0;

/** How the file system holding the existing folder `dir` compares names. */
export function probeFolding(dir: string): NameFolding {
  const forced = process.env.MLV_TEST_ASSUME_FOLDING; // test-only: simulate such a file system
  if (forced !== undefined) return { caseInsensitive: forced.includes('case'), normalizesUnicode: forced.includes('nfc') };
  const hit = probed.get(dir);
  if (hit) return hit;
  const base = `.mlv-probe-${process.pid}-${(probeCounter++).toString(36)}`;
  const result: NameFolding = { caseInsensitive: false, normalizesUnicode: false };
  const probe = (written: string, looked: string): boolean => {
    const file = path.join(dir, written);
    try {
      fs.writeFileSync(file, '', { flag: 'wx' });
    } catch {
      return false; // cannot probe (read-only folder): nothing will be written there either
    }
    try {
      return fs.existsSync(path.join(dir, looked));
    } finally {
      fs.rmSync(file, { force: true });
    }
  };
  result.caseInsensitive = probe(`${base}-Aa`, `${base}-aA`);
  result.normalizesUnicode = probe(`${base}-e\u0301`, `${base}-\u00e9`);
  probed.set(dir, result);
  return result;
}

function fold(p: string, f: NameFolding): string {
  let key = f.normalizesUnicode ? p.normalize('NFC') : p;
  if (f.caseInsensitive) key = key.normalize('NFC').toLowerCase();
  return key;
}

/** Refuses a set of paths in which two would be one file on this file system. */
export function assertDistinctNames(paths: Iterable<string>, f: NameFolding, where: string): void {
  if (!f.caseInsensitive && !f.normalizesUnicode) return;
  const seen = new Map<string, string>();
  for (const p of paths) {
    const key = fold(p, f);
    const other = seen.get(key);
    if (other !== undefined && other !== p) {
      const kind = f.caseInsensitive ? 'case-insensitive' : 'Unicode-normalising';
      throw new MlvError('CONFLICT', `${displayPath(other)} and ${displayPath(p)} would be the same file on this ${kind} file system, so ${where} would overwrite one with the other; nothing was written`, {
        hint: 'use a case-sensitive file system for this data, or rename one of them where it was added and add it again',
        details: { paths: [other, p] },
      });
    }
    seen.set(key, p);
  }
}
