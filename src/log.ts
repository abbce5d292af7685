import pino, { type DestinationStream, type Logger } from 'pino';

/** Fields that may hold a secret, wherever they appear in a log object. */
const REDACT = [
  'password',
  '*.password',
  'key',
  '*.key',
  'signingKey',
  '*.signingKey',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'url',
  '*.url',
  'databaseUrl',
  'managementUrl',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'voke-auth' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}
export type { Logger };
