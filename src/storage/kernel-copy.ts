/**
 * Copies an open file by the kernel: GNU cp reopens the descriptor through /dev/stdin, so the file
 * copied is the one opened (without following links), and copies it with copy_file_range, or
 * shares its blocks where the file system can (--reflink=auto). The caller hashes the copy while
 * it grows, so copying and hashing overlap on two cores.
 *
 * Node's own copyFile is not used: libuv's copy loop never ends when the source shrinks during
 * the copy, and add reads files that other programs may be rewriting; cp stops at the end it
 * finds. The caller is synchronous (a hashing thread), so it cannot hear of the child's exit from
 * the event loop; it reads the child's state from /proc instead: the child stays a zombie, with
 * its exit status, until this thread's event loop runs again, so its pid cannot be reused.
 *
 * Linux only. MLV_KERNEL_COPY=0 turns it off (every large file is then read and written by mlv).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** From this size, files are copied by the kernel (a smaller copy costs less than starting cp). */
export const KERNEL_COPY_MIN = 8 << 20;

/** Copies finished by cp in this thread (tests use it to tell which path ran). */
export let kernelCopies = 0;

let gnuCp: string | null | undefined;

/**
 * GNU cp's absolute path, looked up once per thread, or null. Only the first cp on the PATH is
 * considered (the one the user's shell runs), and only GNU's, whose copy writes the file in order
 * and never rewrites what it wrote; an empty or relative PATH entry would find a cp in the current
 * folder, so those are skipped.
 */
function findGnuCp(): string | null {
  if (gnuCp !== undefined) return gnuCp;
  gnuCp = null;
  if (process.platform !== 'linux' || process.env['MLV_KERNEL_COPY'] === '0' || !procIsOurs()) return gnuCp;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, 'cp');
    if (!fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) continue;
    const version = spawnSync(candidate, ['--version'], { cwd: '/', encoding: 'utf8', timeout: 10_000 });
    if (version.status === 0 && /\(GNU coreutils\)/.test(version.stdout)) gnuCp = candidate;
    break;
  }
  return gnuCp;
}

/**
 * Whether /proc shows this process under its own pid: a /proc of another pid namespace (a
 * container with the host's /proc) would show some other process under the child's pid.
 */
function procIsOurs(): boolean {
  try {
    return Number.parseInt(fs.readFileSync('/proc/self/stat', 'latin1'), 10) === process.pid;
  } catch {
    return false;
  }
}

/** Whether large files can be copied by the kernel here. */
export function kernelCopyAvailable(): boolean {
  return findGnuCp() !== null;
}

export type CopyState = 'running' | 'done' | 'failed';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export class KernelCopy {
  private finished: CopyState | undefined;
  private stopping = false;

  private constructor(private readonly pid: number) {}

  /**
   * Starts copying `srcFd` into `dest`, a file the caller created (empty, writable). Undefined when
   * the copy cannot start: the caller then copies through its own buffer.
   */
  static start(srcFd: number, dest: string): KernelCopy | undefined {
    const cp = findGnuCp();
    if (!cp) return undefined;
    let pid: number | undefined;
    try {
      const child = spawn(cp, ['--reflink=auto', '--', '/dev/stdin', path.resolve(dest)], { cwd: '/', stdio: [srcFd, 'ignore', 'ignore'] });
      child.on('error', () => {});
      child.unref();
      pid = child.pid;
    } catch {
      return undefined;
    }
    return pid === undefined ? undefined : new KernelCopy(pid);
  }

  /** Whether cp still runs, has finished with success, or failed (or cannot be told); never blocks. */
  state(): CopyState {
    if (this.finished) return this.finished;
    const exit = exitStatus(this.pid);
    if (exit === undefined) return 'running';
    // Killed by a signal (SIGXFSZ under a file-size limit, say): not again in this thread.
    if (exit === KILLED && !this.stopping) gnuCp = null;
    this.finished = exit === 0 ? 'done' : 'failed';
    if (this.finished === 'done') kernelCopies++;
    return this.finished;
  }

  /** Waits a millisecond for the copy to grow (Atomics.wait is allowed on Node's main thread too). */
  pause(): void {
    Atomics.wait(sleeper, 0, 0, 1);
  }

  /** Kills cp if it still runs (the caller gave up on the copy, which it then removes). */
  stop(): void {
    if (this.state() !== 'running') return;
    this.stopping = true;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const KILLED = -2;

/**
 * Undefined while `pid` runs; once it has exited, its exit code, KILLED when a signal ended it, or
 * -1 when its state cannot be read (the copy then counts as failed).
 */
function exitStatus(pid: number): number | undefined {
  const fields = statFields(pid);
  if (!fields) return -1;
  if (fields[0] !== 'Z' && fields[0] !== 'X') return undefined;
  // field 52, exit_code: the wait status (Linux >= 3.5).
  const wait = Number(fields[49]);
  if (!Number.isInteger(wait)) return -1;
  return (wait & 0x7f) !== 0 ? KILLED : (wait >> 8) & 0xff;
}

/** The fields of /proc/<pid>/stat after "pid (comm)": [0] is field 3 (state), [1] field 4 (ppid). */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Kills this process's cp children still copying into a file whose path starts with one of
 * `destPrefixes`. A hashing thread terminated after another thread failed cannot stop its own cp.
 */
export function killCopiesInto(destPrefixes: string[]): void {
  if (destPrefixes.length === 0 || process.platform !== 'linux' || !procIsOurs()) return;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry) || statFields(entry)?.[1] !== String(process.pid)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const dest = argv[argv.length - 2] ?? '';
    if (argv.includes('/dev/stdin') && destPrefixes.some((p) => dest.startsWith(p))) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
