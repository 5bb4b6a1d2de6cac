/** What a file registering CLI commands needs from main.ts: the program and the shared helpers. */
import type { Command, Option } from 'commander';
import type { Output } from './output.js';

export interface CommonFlags {
  json?: boolean;
  quiet?: boolean;
}

export interface CliKit {
  program: Command;
  /** The raw arguments (to see where `--` was). */
  argv: string[];
  /**
   * Runs a command function, renders its result (human, or JSON with --json) and sets the exit
   * code: `codeOf(result)` when given, else 0; errors are rendered and mapped to their exit code.
   */
  run<T>(flags: CommonFlags, fn: (out: Output, cwd: string) => Promise<T>, render: (out: Output, r: T) => void, codeOf?: (r: T) => number): Promise<void>;
  json(): Option;
  quiet(): Option;
  examples(lines: string[]): string;
  parseJobs(value: string): number;
  parseTransferJobs(value: string): number;
}

export function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}
