// HTTPS on the auth listener: the certificate files (AUTH_TLS_CERT, AUTH_TLS_KEY, AUTH_TLS_CA),
// checked once at start with a one-line reason, and loaded again whenever they change on disk so
// that a rotated certificate needs no restart (docs/auth-listener.md, "Certificate rotation").
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type TlsOptions, type Server as TlsServer } from 'node:tls';

/** Paths of PEM files. With `ca`, a client certificate signed by it is required. */
export interface AuthTlsFiles {
  cert: string;
  key: string;
  ca?: string;
}

/** How often the files are looked at for a change (a stat each; read only when changed). */
export const DEFAULT_TLS_RELOAD_CHECK_MS = 30_000;

const VARIABLES = { cert: 'AUTH_TLS_CERT', key: 'AUTH_TLS_KEY', ca: 'AUTH_TLS_CA' } as const;

/** The first line of an error's message, without OpenSSL's `error:0A00…:` prefix. */
function reason(err: unknown): string {
  const text = (err as { code?: string; message?: string }).code ?? (err as Error).message ?? String(err);
  return text.split('\n')[0]!.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '');
}

/**
 * The files' contents, each checked alone and then together (the key must match the
 * certificate). Throws an Error whose message is one line naming the variable at fault.
 */
export function readTlsFiles(files: AuthTlsFiles): SecureContextOptions {
  const pem: SecureContextOptions = {};
  for (const part of ['cert', 'key', 'ca'] as const) {
    const file = files[part];
    if (file === undefined) continue;
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (err) {
      throw new Error(`${VARIABLES[part]}: cannot read ${file} (${reason(err)})`);
    }
    try {
      // createSecureContext skips what is not a certificate in a CA file: parse each part itself.
      if (part === 'key') createPrivateKey(text);
      else new X509Certificate(text);
    } catch (err) {
      throw new Error(`${VARIABLES[part]}: ${file} is not a usable PEM ${part === 'key' ? 'private key' : 'certificate'} (${reason(err)})`);
    }
    pem[part] = text;
  }
  try {
    createSecureContext(pem);
  } catch (err) {
    throw new Error(`AUTH_TLS_CERT and AUTH_TLS_KEY do not go together (${reason(err)})`);
  }
  return pem;
}

/** tls.createServer's options: TLS 1.2 at least; with a CA, no client certificate signed by it, no connection. */
export function tlsServerOptions(files: AuthTlsFiles): TlsOptions {
  const withCa = files.ca !== undefined;
  return { ...readTlsFiles(files), minVersion: 'TLSv1.2', requestCert: withCa, rejectUnauthorized: withCa };
}

/**
 * Looks at the files every `intervalMs`; when one changed (size, time or inode), loads them all
 * into the server. A set that does not load (a certificate renewed before its key) keeps the
 * previous one in use and is tried again at the next look. Returns a function that stops it.
 */
export function watchTlsFiles(
  server: TlsServer,
  files: AuthTlsFiles,
  intervalMs: number,
  report: (outcome: { ok: true } | { ok: false; reason: string }) => void,
): () => void {
  const paths = [files.cert, files.key, files.ca].filter((p): p is string => p !== undefined);
  const signature = async () =>
    (
      await Promise.all(
        paths.map((p) =>
          stat(p).then(
            (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
            () => 'missing',
          ),
        ),
      )
    ).join('|');
  let loaded: Promise<string> = signature();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const [before, now] = await Promise.all([loaded, signature()]);
      if (now === before) return;
      try {
        server.setSecureContext(readTlsFiles(files));
        loaded = Promise.resolve(now);
        report({ ok: true });
      } catch (err) {
        report({ ok: false, reason: (err as Error).message });
        // `loaded` stays: the next look tries again.
      }
    })().finally(() => {
      busy = false;
    });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
