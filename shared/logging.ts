/**
 * Structured logging for Cloud Logging: one JSON object per line on stdout with an
 * upper-case `severity`, a fixed `message`, and variable data in fields.
 * Never pass a token or a private key in `fields`.
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

const ORDER: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4 };

export type LogSink = (line: string) => void;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  notice(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>, err?: unknown): void;
  error(message: string, fields?: Record<string, unknown>, err?: unknown): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  minSeverity?: Severity;
  sink?: LogSink;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.minSeverity ?? 'INFO'];
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + '\n'));
  const base = options.base ?? {};
  const emit = (severity: Severity, message: string, fields?: Record<string, unknown>, err?: unknown) => {
    if (ORDER[severity] < min) return;
    const entry: Record<string, unknown> = { severity, message, time: new Date().toISOString(), ...base, ...fields };
    if (err !== undefined) {
      const e = err instanceof Error ? err : new Error(String(err));
      entry.error = e.message;
      if ((e as { code?: unknown }).code !== undefined) entry.errorCode = (e as { code?: unknown }).code;
      // Only ERRORs (real faults) carry a stack trace: Error Reporting picks up every
      // entry with one, and an expected condition logged as WARNING is not a fault.
      if (severity === 'ERROR') entry.stack_trace = e.stack;
    }
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    notice: (m, f) => emit('NOTICE', m, f),
    warn: (m, f, e) => emit('WARNING', m, f, e),
    error: (m, f, e) => emit('ERROR', m, f, e),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

/** A logger that keeps entries in memory, for tests. */
export function memoryLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = createLogger({ minSeverity: 'DEBUG', sink: (line) => entries.push(JSON.parse(line)) });
  return Object.assign(logger, { entries });
}

export const silentLogger: Logger = createLogger({ sink: () => {} });
