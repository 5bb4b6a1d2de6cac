/** Progress events flow from commands to whoever renders them; the core never touches a terminal. */
export interface ProgressEvent {
  phase: string;
  /** Items done so far and, when known, in total. */
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
}

export type ProgressListener = (event: ProgressEvent) => void;

export const noProgress: ProgressListener = () => {};
