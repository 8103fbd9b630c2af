import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * One logger per daemon. JSON lines by default (machines read them); the human-readable
 * libreswan-style log is a separate sink owned by the IKE layer.
 */
export function createLogger(opts: { name: string; level?: string; file?: string }): Logger {
  const level = opts.level ?? process.env.OI_LOG_LEVEL ?? 'info';
  const dest: DestinationStream = opts.file
    ? pino.destination({ dest: opts.file, mkdir: true, sync: false })
    : pino.destination({ fd: 2, sync: true });
  return pino({ name: opts.name, level, base: { pid: process.pid } }, dest);
}

/** A logger that drops everything: for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
