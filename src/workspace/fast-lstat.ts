/**
 * lstat for the stat-cache hot path without building a Stats object. `fs.lstatSync(p, {bigint})`
 * spends about as long turning the kernel's answer into a BigIntStats (18 BigInts, 4 Dates) as the
 * system call takes; with 200,000 files that is most of `mlv status`. Node's own fs binding fills
 * one shared BigInt64Array instead, which is read here directly.
 *
 * The binding is internal to Node, so it is used only after it has answered one call exactly as
 * `fs.lstatSync` does (same dev, ino, mode, size and nanosecond times); otherwise, under
 * --pending-deprecation (where process.binding warns), with the permission model on, or with
 * MLV_PORTABLE_STAT=1, callers fall back to `fs.lstatSync`.
 */
import * as fs from 'node:fs';
import { StatProbe } from './stat-cache.js';

interface FsBinding {
  lstat(path: string, bigint: boolean, req: undefined, throwIfNoEntry: boolean): BigInt64Array | undefined;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const NS = 1_000_000_000n;

let binding: FsBinding | null | undefined;
/** Set once the binding has answered one call exactly like fs.lstatSync (once per thread). */
let verified = false;

function loadBinding(): FsBinding | null {
  const env = process.env;
  const pending = env.NODE_PENDING_DEPRECATION === '1' || process.execArgv.includes('--pending-deprecation') || (env.NODE_OPTIONS ?? '').includes('--pending-deprecation');
  const permissionModel = (process as { permission?: unknown }).permission !== undefined;
  if (env.MLV_PORTABLE_STAT === '1' || pending || permissionModel) return null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<FsBinding> }).binding('fs');
    return typeof b.lstat === 'function' ? (b as FsBinding) : null;
  } catch {
    return null;
  }
}

export class FastLstat {
  /** The last successful call's identity and times, ready for StatCacheReader.lookupProbe. */
  readonly probe = new StatProbe();
  mode = 0;
  size = 0;

  /** True when the fast path is usable in this process (it may still turn itself off on first use). */
  static get available(): boolean {
    if (binding === undefined) binding = loadBinding();
    return binding !== null;
  }

  /**
   * Fills `probe`, `mode` and `size` for absPath and returns true; returns false when the fast path
   * is off or the call failed (the caller's fs.lstatSync then reports the error properly).
   */
  lstat(absPath: string): boolean {
    if (!FastLstat.available) return false;
    let v: BigInt64Array | undefined;
    try {
      v = binding!.lstat(absPath, true, undefined, false);
    } catch {
      return false;
    }
    if (!v || v.length < 16) return false;
    const words = new Uint32Array(v.buffer, v.byteOffset, 32);
    const p = this.probe.words;
    p[0] = words[0]!; // dev
    p[1] = words[1]!;
    p[2] = words[14]!; // ino
    p[3] = words[15]!;
    p[4] = words[16]!; // size
    p[5] = words[17]!;
    this.probe.big[3] = BigInt.asUintN(64, v[12]! * NS + v[13]!); // mtime ns
    this.probe.big[4] = BigInt.asUintN(64, v[14]! * NS + v[15]!); // ctime ns
    this.mode = words[2]!;
    this.size = words[16]! + words[17]! * 2 ** 32;
    if (!verified) return this.verify(absPath);
    return true;
  }

  get isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  private verify(absPath: string): boolean {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(absPath, { bigint: true });
    } catch {
      return false;
    }
    const b = this.probe.big;
    const same = b[0] === st.dev && b[1] === st.ino && b[2] === st.size && b[3] === BigInt.asUintN(64, st.mtimeNs) && b[4] === BigInt.asUintN(64, st.ctimeNs) && this.mode === Number(st.mode);
    if (!same) binding = null;
    verified = same;
    return same;
  }
}
