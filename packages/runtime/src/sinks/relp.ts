import type { Socket } from 'node:net';

/**
 * A RELP client session (Reliable Event Logging Protocol, rsyslog's `imrelp`): every message is a
 * transaction the receiver answers `200 OK` only once it took it, so a syslog batch counts as
 * delivered end to end, not merely written to a socket. Frames are `TXNR SP COMMAND SP DATALEN
 * [SP DATA] LF`.
 */
export interface RelpSession {
  /** Sends each message as one `syslog` transaction; resolves when every one was answered 200. */
  send(messages: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

interface Pending {
  /** A `close` is answered with an empty `rsp`. */
  close: boolean;
  resolve(): void;
  reject(err: Error): void;
}

export async function openRelp(socket: Socket, timeoutMs: number): Promise<RelpSession> {
  let txnr = 0;
  let buf = Buffer.alloc(0);
  let dead: Error | null = null;
  const pending = new Map<number, Pending>();
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      // Header: TXNR SP COMMAND SP DATALEN, then SP DATA (when DATALEN > 0) and LF.
      const m = /^(\d{1,9}) ([a-z]{1,32}) (\d{1,9})/.exec(buf.subarray(0, 64).toString('latin1'));
      if (!m) {
        if (buf.length >= 64 || (buf.length > 0 && !/^\d/.test(buf.toString('latin1', 0, 1))))
          return failAll(new Error('malformed RELP frame from the receiver'));
        return;
      }
      const len = Number(m[3]);
      const start = m[0].length + (len > 0 ? 1 : 0);
      if (buf.length < start + len + 1) return;
      const data = buf.subarray(start, start + len).toString('utf8');
      buf = buf.subarray(start + len + 1);
      const n = Number(m[1]);
      if (m[2] === 'serverclose') return failAll(new Error('the receiver closed the RELP session'));
      const p = pending.get(n);
      if (!p) continue;
      pending.delete(n);
      if (m[2] === 'rsp' && (data.startsWith('200') || (p.close && len === 0))) p.resolve();
      else p.reject(new Error(`RELP receiver refused transaction ${n}: ${data.slice(0, 100)}`));
    }
  });
  socket.once('close', () => failAll(new Error('the RELP connection closed')));
  socket.once('error', (err) => failAll(err));

  const transact = (command: string, data: string): Promise<void> => {
    if (dead) return Promise.reject(dead);
    txnr = txnr >= 999_999_999 ? 1 : txnr + 1;
    const n = txnr;
    const body = Buffer.from(data, 'utf8');
    const frame = Buffer.concat([
      Buffer.from(`${n} ${command} ${body.length}${body.length > 0 ? ' ' : ''}`, 'latin1'),
      body,
      Buffer.from('\n'),
    ]);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(n);
        reject(new Error(`RELP transaction ${n} not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(n, {
        close: command === 'close',
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      socket.write(frame);
    });
  };

  await transact('open', 'relp_version=0\nrelp_software=mandate\ncommands=syslog');
  return {
    async send(messages) {
      // Pipelined: all transactions in flight, each must be answered 200.
      await Promise.all(messages.map((msg) => transact('syslog', msg)));
    },
    async close() {
      await transact('close', '').catch(() => undefined);
      socket.end();
    },
  };
}
