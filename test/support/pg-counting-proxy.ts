// A TCP relay in front of PostgreSQL that counts the statements clients send (protocol
// messages Query and Execute), so a test can say how many statements reached the database.
// It can also be cut (every connection closed, new ones refused) and restored.
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface CountingProxy extends TcpProxy {
  /** Statements sent through the proxy so far (simple queries + extended-protocol executes). */
  statements(): number;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Reads the client's side of one connection: a startup packet (no type byte), then typed messages. */
function statementCounter(onStatement: () => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let startup = true;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (startup) {
        if (pending.length < 8) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const code = pending.readInt32BE(4);
        // An SSL/GSS request is followed by the real startup packet.
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        pending = pending.subarray(length);
      } else {
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        const type = String.fromCharCode(pending[0]!);
        if (type === 'Q' || type === 'E') onStatement();
        pending = pending.subarray(1 + length);
      }
    }
  };
}

export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  let statements = 0;
  const proxy = await startTcpProxy(targetUrl, { watchClient: () => statementCounter(() => statements++) });
  return { ...proxy, statements: () => statements };
}
