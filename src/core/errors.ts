/**
 * Every error mlv raises on purpose is an MlvError: a stable `code`, the process exit code the CLI
 * uses for it, and an optional hint saying what to do. Anything else reaching the CLI is a bug.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notARepo: 3,
  conflict: 4,
  missingData: 5,
  corrupt: 6,
  locked: 7,
  io: 8,
  transferFailed: 9,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'USAGE'
  | 'INVALID_PATH'
  | 'NOT_FOUND'
  | 'NOT_A_REPO'
  | 'NOT_IN_GIT'
  | 'ALREADY_TRACKED'
  | 'TRACKED_BY_GIT'
  | 'UNSUPPORTED_FILE'
  | 'INVALID_POINTER'
  | 'INVALID_TREE'
  | 'INVALID_CONFIG'
  | 'CORRUPT_OBJECT'
  | 'MISSING_OBJECTS'
  | 'CONFLICT'
  | 'LOCKED'
  | 'IO'
  | 'REMOTE';

const exitCodeFor: Record<ErrorCode, ExitCodeValue> = {
  USAGE: ExitCode.usage,
  INVALID_PATH: ExitCode.usage,
  NOT_FOUND: ExitCode.usage,
  NOT_A_REPO: ExitCode.notARepo,
  NOT_IN_GIT: ExitCode.notARepo,
  ALREADY_TRACKED: ExitCode.usage,
  TRACKED_BY_GIT: ExitCode.usage,
  UNSUPPORTED_FILE: ExitCode.usage,
  INVALID_POINTER: ExitCode.corrupt,
  INVALID_TREE: ExitCode.corrupt,
  INVALID_CONFIG: ExitCode.corrupt,
  CORRUPT_OBJECT: ExitCode.corrupt,
  MISSING_OBJECTS: ExitCode.missingData,
  CONFLICT: ExitCode.conflict,
  LOCKED: ExitCode.locked,
  IO: ExitCode.io,
  REMOTE: ExitCode.transferFailed,
};

export class MlvError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  /** Extra machine-readable detail for `--json` output. */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'MlvError';
    this.code = code;
    this.exitCode = exitCodeFor[code];
    this.hint = options.hint;
    this.details = options.details;
  }
}

export function isMlvError(err: unknown): err is MlvError {
  return err instanceof MlvError;
}

/** Node system errors carry an errno code such as ENOENT. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/**
 * Turns the file-system errors a user can act on (disk full, permissions, read-only file system)
 * into one-line MlvErrors; everything else is rethrown untouched.
 */
export function wrapFsError(err: unknown, action: string): never {
  if (err instanceof MlvError) throw err;
  const code = errnoCode(err);
  const path = (err as { path?: string } | undefined)?.path;
  const where = path ? ` (${path})` : '';
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      throw new MlvError('IO', `no space left on device while trying to ${action}${where}`, {
        hint: 'free some disk space and run the command again; nothing partial was kept',
        cause: err,
      });
    case 'EACCES':
    case 'EPERM':
      throw new MlvError('IO', `permission denied while trying to ${action}${where}`, {
        hint: 'check the ownership and permissions of that path',
        cause: err,
      });
    case 'EROFS':
      throw new MlvError('IO', `read-only file system while trying to ${action}${where}`, { cause: err });
    case 'EFBIG':
      throw new MlvError('IO', `file too large for this file system while trying to ${action}${where}`, { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      throw new MlvError('IO', `too many open files while trying to ${action}`, {
        hint: 'raise the open-file limit (ulimit -n) or lower core.jobs',
        cause: err,
      });
    default:
      throw err;
  }
}
