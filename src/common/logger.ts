import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs to stderr; level from KEDGE_LOG_LEVEL (default info, silent under tests unless set). */
export function createLogger(component: string, level?: string): Logger {
  const resolved = level ?? process.env.KEDGE_LOG_LEVEL ?? 'info';
  return pino({ name: component, level: resolved }, pino.destination(2));
}
