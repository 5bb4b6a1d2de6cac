/**
 * The repository lock (`.mlv/lock`): one writer at a time. A second command waits (up to
 * core.lock_timeout seconds), then fails naming the holder. A lock whose process is gone, or whose
 * content is unreadable, is stale and taken over.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { processAlive } from '../storage/local-cache.js';

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
}

export interface Lock {
  release(): void;
  /** A lock left by a process that died was taken over: that run may have left temp files. */
  tookOverStale: boolean;
}

const POLL_MS = 100;

export async function acquireLock(mlvDir: string, command: string, timeoutMs: number): Promise<Lock> {
  const file = path.join(mlvDir, 'lock');
  const me: LockInfo = { pid: process.pid, host: os.hostname(), command, started: new Date().toISOString() };
  const deadline = Date.now() + timeoutMs;
  let tookOverStale = false;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, JSON.stringify(me) + '\n');
      fs.closeSync(fd);
      let released = false;
      return {
        tookOverStale,
        release() {
          if (released) return;
          released = true;
          fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') wrapFsError(err, 'take the repository lock');
    }
    const holder = readHolder(file);
    if (holder === 'gone') continue;
    if (holder === 'stale') {
      takeOverStale(file);
      tookOverStale = true;
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder === 'unreadable' ? 'another process (its lock file is being written or is unreadable)' : `"mlv ${holder.command}" (pid ${holder.pid} on ${holder.host}, since ${holder.started})`;
      throw new MlvError('LOCKED', `the repository is locked by ${who}`, {
        hint: `wait for it to finish; if no mlv command is running, delete ${file}`,
        details: { holder },
      });
    }
    await sleep(POLL_MS);
  }
}

function readHolder(file: string): LockInfo | 'stale' | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'gone';
    if (errnoCode(err) === 'EISDIR') {
      throw new MlvError('LOCKED', `${file} is a folder, not a lock file, so no mlv command can lock this repository`, {
        hint: `remove it (rm -r ${file}) if no mlv command is running`,
      });
    }
    return wrapFsError(err, 'read the repository lock');
  }
  let info: LockInfo;
  try {
    info = JSON.parse(text) as LockInfo;
    // pid 0 and negative pids name process groups, which always "exist": not a holder.
    if (!Number.isInteger(info.pid) || info.pid <= 0 || typeof info.host !== 'string') throw new Error('bad lock');
  } catch {
    // A lock being written right now can be empty for an instant; only old junk is stale.
    return Math.abs(ageMs(file)) > 2000 ? 'stale' : 'unreadable';
  }
  if (info.host === os.hostname() && !processAlive(info.pid)) return 'stale';
  return info;
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Renames the stale lock away first, so two waiters never both delete a fresh lock. */
function takeOverStale(file: string): void {
  const aside = `${file}.stale.${process.pid}.${Date.now()}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  // Another waiter may have replaced the stale lock with a live one between our read and rename.
  const moved = readHolder(aside);
  if (moved !== 'stale' && moved !== 'gone' && moved !== 'unreadable') {
    try {
      fs.linkSync(aside, file);
    } catch {
      // someone else holds a newer lock now; theirs wins and the live holder keeps running
    }
  }
  fs.rmSync(aside, { force: true });
}
