/**
 * The one place that writes to the terminal: results on stdout, progress and errors on stderr.
 * Progress is drawn only on a TTY, at most every 200 ms.
 */
import { ExitCode, MlvError } from '../core/errors.js';
import type { ProgressEvent, ProgressListener } from '../core/progress.js';
import { formatBytes, groupDigits } from './format.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
}

export class Output {
  private lastDraw = 0;
  private drawn = false;
  private started = Date.now();

  constructor(readonly opts: OutputOptions) {}

  line(text = ''): void {
    if (!this.opts.quiet) process.stdout.write(text + '\n');
  }

  /** A problem the user must see whatever -q or --json: on stderr. */
  problem(text: string): void {
    this.clearProgress();
    process.stderr.write(text + '\n');
  }

  json(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  get progress(): ProgressListener | undefined {
    if (this.opts.quiet || this.opts.json || !process.stderr.isTTY) return undefined;
    return (e) => this.draw(e);
  }

  private draw(e: ProgressEvent): void {
    const now = Date.now();
    if (now - this.lastDraw < 200 && e.done !== e.total) return;
    this.lastDraw = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    let text = `${e.phase}: ${groupDigits(e.done)}${e.total !== undefined ? `/${groupDigits(e.total)}` : ''} files`;
    if (e.bytes !== undefined) text += `, ${formatBytes(e.bytes)} (${formatBytes(e.bytes / seconds)}/s)`;
    process.stderr.write(`\r\x1b[2K${text}`);
    this.drawn = true;
  }

  clearProgress(): void {
    if (this.drawn) process.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }

  /** Reports an error and returns the exit code for it. */
  error(err: unknown): number {
    this.clearProgress();
    const debug = process.env.MLV_DEBUG === '1' || process.env.MLV_DEBUG === 'true';
    if (err instanceof MlvError) {
      if (this.opts.json) {
        this.json({ error: { code: err.code, message: err.message, hint: err.hint, exitCode: err.exitCode, ...(err.details ? { details: err.details } : {}) } });
      }
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      if (debug && err.stack) process.stderr.write(err.stack + '\n');
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (this.opts.json) this.json({ error: { code: 'INTERNAL', message, exitCode: ExitCode.internal } });
    process.stderr.write(`error: internal error: ${message}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    else process.stderr.write('hint: this is a bug in mlv; run again with MLV_DEBUG=1 to see the stack trace, and report it\n');
    return ExitCode.internal;
  }
}
