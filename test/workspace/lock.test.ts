import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { processAlive } from '../../dist/storage/local-cache.js';
import { acquireLock } from '../../dist/workspace/lock.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOCK_JS = pathToFileURL(path.join(ROOT, 'dist/workspace/lock.js')).href;

let dir: string;
let lockFile: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-lock-'));
  lockFile = path.join(dir, 'lock');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  expect(processAlive(r.pid!)).toBe(false);
  return r.pid!;
}

async function lockedError(promise: Promise<unknown>): Promise<MlvError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MlvError);
    return err as MlvError;
  }
  throw new Error('expected the lock to be refused');
}

const holderInfo = () => JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number; host: string; command: string; started: string };
const setAge = (file: string, seconds: number) => {
  const t = Date.now() / 1000 - seconds;
  fs.utimesSync(file, t, t);
};

describe('acquireLock', () => {
  it('creates the lock file describing the holder and removes it on release', async () => {
    const before = Date.now();
    const lock = await acquireLock(dir, 'add', 0);
    const info = holderInfo();
    expect(info.pid).toBe(process.pid);
    expect(info.host).toBe(os.hostname());
    expect(info.command).toBe('add');
    expect(Date.parse(info.started)).toBeGreaterThanOrEqual(before - 1000);
    expect(fs.readFileSync(lockFile, 'utf8').endsWith('\n')).toBe(true);
    lock.release();
    expect(fs.existsSync(lockFile)).toBe(false);
    lock.release(); // idempotent
    const again = await acquireLock(dir, 'status', 0);
    again.release();
  });

  it('a second release does not remove a lock someone else took in between', async () => {
    const first = await acquireLock(dir, 'add', 0);
    first.release();
    const second = await acquireLock(dir, 'checkout', 0);
    first.release();
    expect(holderInfo().command).toBe('checkout');
    second.release();
  });

  it('refuses a second acquirer after its timeout with LOCKED, naming the holder pid and command', async () => {
    const lock = await acquireLock(dir, 'add data', 0);
    try {
      const started = Date.now();
      const err = await lockedError(acquireLock(dir, 'status', 250));
      const waited = Date.now() - started;
      expect(err.code).toBe('LOCKED');
      expect(err.exitCode).toBe(7);
      expect(err.message).toContain(`pid ${process.pid}`);
      expect(err.message).toContain('"mlv add data"');
      expect(err.message).toContain(os.hostname());
      expect(err.hint).toContain(lockFile);
      expect((err.details as { holder: { pid: number } }).holder.pid).toBe(process.pid);
      expect(waited).toBeGreaterThanOrEqual(200);
      expect(waited).toBeLessThan(3000);
      // The holder's lock is untouched.
      expect(holderInfo().command).toBe('add data');
    } finally {
      lock.release();
    }
  });

  it('with a zero timeout fails at once', async () => {
    const lock = await acquireLock(dir, 'add', 0);
    try {
      const started = Date.now();
      expect((await lockedError(acquireLock(dir, 'add', 0))).code).toBe('LOCKED');
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      lock.release();
    }
  });

  it('a waiter gets the lock once the holder releases it', async () => {
    const holder = await acquireLock(dir, 'add', 0);
    const started = Date.now();
    setTimeout(() => holder.release(), 300);
    const waiter = await acquireLock(dir, 'checkout', 10_000);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5000);
    expect(holderInfo().command).toBe('checkout');
    expect(holderInfo().pid).toBe(process.pid);
    waiter.release();
  });

  it('takes over the lock of a process that no longer exists', async () => {
    const pid = deadPid();
    fs.writeFileSync(lockFile, JSON.stringify({ pid, host: os.hostname(), command: 'add', started: new Date().toISOString() }) + '\n');
    const lock = await acquireLock(dir, 'status', 0);
    expect(holderInfo()).toMatchObject({ pid: process.pid, command: 'status' });
    expect(fs.readdirSync(dir)).toEqual(['lock']); // the stale lock was moved aside and deleted
    lock.release();
  });

  it('does not take over the lock of a dead pid on another host', async () => {
    const pid = deadPid();
    fs.writeFileSync(lockFile, JSON.stringify({ pid, host: `not-${os.hostname()}`, command: 'push', started: 'then' }) + '\n');
    const err = await lockedError(acquireLock(dir, 'status', 0));
    expect(err.code).toBe('LOCKED');
    expect(err.message).toContain(`pid ${pid}`);
    expect(err.message).toContain('"mlv push"');
    expect(holderInfo().pid).toBe(pid);
  });

  it.each([
    ['junk text', 'this is not json'],
    ['an empty file', ''],
    ['JSON without a pid', '{"host":"h","command":"add"}\n'],
    ['a fractional pid', '{"pid":1.5,"host":"h","command":"add"}\n'],
  ])('takes over a lock file holding %s once it is older than 2 s', async (_label, content) => {
    fs.writeFileSync(lockFile, content);
    setAge(lockFile, 10);
    const lock = await acquireLock(dir, 'add', 0);
    expect(holderInfo()).toMatchObject({ pid: process.pid, command: 'add' });
    expect(fs.readdirSync(dir)).toEqual(['lock']);
    lock.release();
  });

  // Regression (fixed): an unreadable lock younger than 2 s makes readHolder() return 'gone', and acquireLock()
  // then `continue`s without sleeping or checking the deadline: it spins synchronously, blocking
  // the event loop and ignoring the timeout, until the file is 2 s old, then takes it over.
  it('waits for a fresh unreadable lock without blocking the event loop or overrunning its timeout', async () => {
    fs.writeFileSync(lockFile, '');
    setAge(lockFile, 1.5); // still "fresh" (under 2 s) for the next 500 ms, well past the 100 ms timeout
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    let outcome: unknown;
    try {
      const lock = await acquireLock(dir, 'add', 100);
      lock.release();
      outcome = 'acquired';
    } catch (err) {
      outcome = err;
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    expect(ticks).toBeGreaterThan(0);
    expect(elapsed).toBeLessThan(1000);
    expect((outcome as MlvError).code).toBe('LOCKED');
  });

  // Regression (fixed): same loop; if the unreadable lock's mtime is in the future (clock skew, a copied
  // repository), ageMs() is negative, it never becomes "stale", and acquireLock() never returns
  // and never yields: the command hangs forever at 100% CPU whatever core.lock_timeout says.
  // Run in a child process so the hang cannot freeze the test runner.
  it('gives up on an unreadable lock with a future mtime within its timeout', () => {
    fs.writeFileSync(lockFile, 'junk');
    const future = Date.now() / 1000 + 3600;
    fs.utimesSync(lockFile, future, future);
    const script = `
      const { acquireLock } = await import(${JSON.stringify(LOCK_JS)});
      try { const l = await acquireLock(${JSON.stringify(dir)}, 'add', 200); l.release(); console.log('acquired'); }
      catch (e) { console.log(e.code); }
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 2000 });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toMatch(/^(LOCKED|acquired)$/);
  });
});
