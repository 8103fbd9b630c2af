/**
 * `up`'s progress: one compact live line per phase on a terminal (rewritten in place, ending with
 * ✓ or ✗ and the time it took), plain lines when stdout is a pipe or a file (CI logs, tests).
 */
export interface Progress {
  /** Starts a phase (ends the previous one as done). */
  phase(name: string): void;
  /** Updates the current phase's detail, e.g. "3/5 nodes". */
  update(detail: string): void;
  /** Ends the current phase. */
  done(detail?: string): void;
  fail(detail: string): void;
  /** A line of its own (a warning, a note). */
  note(text: string): void;
}

export interface ProgressOptions {
  write: (s: string) => void;
  tty: boolean;
  now?: () => number;
}

export function createProgress(o: ProgressOptions): Progress {
  const now = o.now ?? (() => Date.now());
  let current: { name: string; detail: string; started: number; lastPlain: string } | undefined;
  const seconds = () => (current ? `${((now() - current.started) / 1000).toFixed(1)} s` : '');
  const draw = () => {
    if (!current) return;
    if (o.tty) o.write(`\r\x1b[K… ${current.name}${current.detail ? ` — ${current.detail}` : ''}`);
  };
  const finish = (mark: string, detail: string | undefined) => {
    if (!current) return;
    const d = detail ?? current.detail;
    const line = `${mark} ${current.name}${d ? ` — ${d}` : ''} (${seconds()})`;
    o.write(o.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    current = undefined;
  };
  return {
    phase(name) {
      finish('✓', undefined);
      current = { name, detail: '', started: now(), lastPlain: '' };
      if (o.tty) draw();
      else o.write(`… ${name}\n`);
    },
    update(detail) {
      if (!current) return;
      current.detail = detail;
      if (o.tty) draw();
      else if (detail !== current.lastPlain) {
        // Plain output: only changes, so a log shows each step once.
        current.lastPlain = detail;
        o.write(`  ${current.name}: ${detail}\n`);
      }
    },
    done(detail) {
      finish('✓', detail);
    },
    fail(detail) {
      finish('✗', detail);
    },
    note(text) {
      if (o.tty && current) o.write(`\r\x1b[K${text}\n`);
      else o.write(`${text}\n`);
      draw();
    },
  };
}
