/**
 * "Racy" files (Git's term): modified so recently that a further edit within the same timestamp
 * tick would leave size, mtime and ctime unchanged. Their ids are not remembered by the stat cache.
 */
import type * as fs from 'node:fs';
import type { StatKey } from './stat-cache.js';

/** Files modified this recently may change again within one timestamp tick ("racy" in Git's terms). */
export const RACY_WINDOW_NS = 50_000_000n;
/** For file systems whose timestamps have whole-second (or coarser) resolution. */
const RACY_COARSE_NS = 3_000_000_000n;

export function statKeyOf(st: fs.BigIntStats): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function isRacy(key: StatKey, nowNs: bigint): boolean {
  const latest = key.mtimeNs > key.ctimeNs ? key.mtimeNs : key.ctimeNs;
  const coarse = key.mtimeNs % 1_000_000_000n === 0n && key.ctimeNs % 1_000_000_000n === 0n;
  return nowNs - latest < (coarse ? RACY_COARSE_NS : RACY_WINDOW_NS);
}

