/**
 * Copies an open file by the kernel: coreutils `cp` reads the descriptor as its stdin, so the file
 * copied is the one opened (without following links), and cp copies it with copy_file_range, or
 * shares its blocks where the file system can (--reflink=auto). The caller hashes the copy while
 * it grows, so copying and hashing overlap on two cores.
 *
 * Node's own copyFile is not used: libuv's copy loop never ends when the source shrinks during
 * the copy, and add reads files that other programs may be rewriting; cp stops at the end it
 * finds. A shell around cp writes its exit status to a file, which a thread busy in synchronous
 * code can poll (a child's exit event needs the event loop). Linux only: there /dev/stdin of a
 * regular file reopens that file.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

let unavailable = process.platform !== 'linux' || !fs.existsSync('/bin/sh');

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` (Atomics.wait is allowed on Node's main thread too). */
function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export type CopyState = 'running' | 'done' | 'failed';

export class KernelCopy {
  private lastLiveCheck = Date.now();

  private constructor(
    private readonly pid: number,
    private readonly statusPath: string,
  ) {}

  /**
   * Starts copying `srcFd` into `dest`, a file the caller created (empty, writable); cp's exit
   * status goes to the new file `statusPath`. Undefined when the copy cannot start here (no
   * /bin/sh): the caller then copies through its own buffer.
   */
  static start(srcFd: number, dest: string, statusPath: string): KernelCopy | undefined {
    if (unavailable) return undefined;
    const child = spawn('/bin/sh', ['-c', 'cp --reflink=auto -- /dev/stdin "$1"; echo $? > "$2"', 'sh', dest, statusPath], {
      stdio: [srcFd, 'ignore', 'ignore'],
    });
    child.on('error', () => {});
    if (child.pid === undefined) {
      unavailable = true;
      return undefined;
    }
    child.unref();
    return new KernelCopy(child.pid, statusPath);
  }

  /** Whether the copy has finished (with cp's success) or failed; never blocks. */
  state(): CopyState {
    let status: string;
    try {
      status = fs.readFileSync(this.statusPath, 'utf8');
    } catch {
      status = '';
    }
    if (status.endsWith('\n')) return status === '0\n' ? 'done' : 'failed';
    // No status yet: a shell killed before writing one would leave the caller waiting forever.
    if (Date.now() - this.lastLiveCheck > 200) {
      this.lastLiveCheck = Date.now();
      if (!processLive(this.pid)) return this.statusWritten() ? this.state() : 'failed';
    }
    return 'running';
  }

  private statusWritten(): boolean {
    try {
      return fs.readFileSync(this.statusPath, 'utf8').endsWith('\n');
    } catch {
      return false;
    }
  }

  /** Waits a moment for the copy to grow. */
  pause(): void {
    sleep(1);
  }

  /** Removes the status file (the copy itself belongs to the caller). */
  dispose(): void {
    fs.rmSync(this.statusPath, { force: true });
  }
}

/** Whether `pid` runs (a zombie, exited but not yet collected by Node, does not). */
function processLive(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
