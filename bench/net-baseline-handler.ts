// The bare node:net server's whole per-connection work (bench/net-baseline-server.ts), apart so
// that `npm run bench:js` runs the very same code on its in-memory socket: frame just enough
// HTTP/1.1 to answer (the head up to CRLF CRLF, a Content-Length body) and write
// `200 text/plain allow` for every request, with no validation, routing or lookup.
import type { Duplex } from 'node:stream';

const ANSWER = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nallow';

/** Answers every request the socket sends (chunks as latin1 strings, or Buffers read as latin1). */
export function answerAllow(socket: Duplex): void {
  let buffered = '';
  socket.on('data', (chunk: string | Buffer) => {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    let out = '';
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) break;
      const m = /content-length: *(\d+)/i.exec(buffered.slice(0, end));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buffered.length < total) break;
      buffered = buffered.slice(total);
      out += ANSWER;
    }
    if (out !== '') socket.write(out, 'latin1');
  });
}
