// The reply texts of the AMQP 0-9-1 close methods in what a broker sent. amqplib reports a
// connection.close that answers connection.open as "Expected ConnectionOpenOk; got
// <ConnectionClose channel:0>", without its text; a test that needs the text reads the bytes
// (startTcpProxy's watchServer) and decodes the frames here.

const FRAME_METHOD = 1;
const FRAME_END = 0xce;
const CLOSE_METHODS = new Map([
  [(10 << 16) | 50, 'connection.close'],
  [(20 << 16) | 40, 'channel.close'],
]);

export interface CloseMethod {
  method: 'connection.close' | 'channel.close';
  channel: number;
  code: number;
  text: string;
}

/** Every connection.close and channel.close in a byte stream from the broker (after the protocol header). */
export function closeMethods(bytes: Buffer): CloseMethod[] {
  const out: CloseMethod[] = [];
  let at = 0;
  while (at + 7 <= bytes.length) {
    const type = bytes.readUInt8(at);
    const channel = bytes.readUInt16BE(at + 1);
    const size = bytes.readUInt32BE(at + 3);
    const end = at + 7 + size;
    if (end >= bytes.length || bytes[end] !== FRAME_END) break; // incomplete or not a frame
    if (type === FRAME_METHOD && size >= 7) {
      const p = at + 7;
      const method = CLOSE_METHODS.get((bytes.readUInt16BE(p) << 16) | bytes.readUInt16BE(p + 2));
      if (method !== undefined) {
        const length = bytes.readUInt8(p + 6);
        out.push({ method: method as CloseMethod['method'], channel, code: bytes.readUInt16BE(p + 4), text: bytes.toString('utf8', p + 7, p + 7 + length) });
      }
    }
    at = end + 1;
  }
  return out;
}

/** Collects what the broker sends on each connection: pass `watch` as startTcpProxy's watchServer. */
export function serverBytes(): { watch: () => (chunk: Buffer) => void; all(): Buffer[] } {
  const streams: Buffer[][] = [];
  return {
    watch() {
      const chunks: Buffer[] = [];
      streams.push(chunks);
      return (chunk) => chunks.push(chunk);
    },
    all: () => streams.map((chunks) => Buffer.concat(chunks)),
  };
}
