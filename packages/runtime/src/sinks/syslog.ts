import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { formatRecord } from '../audit/export.js';
import type { SinkRecord, SinkTransport } from './port.js';
import { openRelp, type RelpSession } from './relp.js';

/** How long after a plain TCP batch a reset or close of the connection still fails it. */
const SETTLE_MS = 100;

export interface SyslogSinkOptions {
  host: string;
  port: number;
  tls: boolean;
  /** RELP (rsyslog `imrelp`): every message acknowledged by the receiver. */
  relp: boolean;
  /** PEM of the CA that signed the receiver's certificate (TLS); default the system's. */
  ca?: string;
  /** RFC 5424 facility number; 13 is "log audit". */
  facility: number;
  appName: string;
  timeoutMs: number;
}

interface Conn {
  socket: Socket;
  relp: RelpSession | null;
}

/**
 * Syslog (RFC 5424) with a CEF message, over RELP (acknowledged per message), or plain TCP or TLS
 * with octet-counting framing (RFC 6587). Plain syslog has no acknowledgement: a batch counts as
 * delivered once the kernel took all of it within `timeoutMs` and the receiver did not close the
 * connection within 100 ms after. That is not a delivery: what sits in the two kernels' socket
 * buffers (megabytes) is lost when a receiver that stopped reading is killed, and a receiver that
 * goes away can lose what it had read but not written. Use RELP (or the webhook, HEC, OTLP or NATS
 * sinks) when every record must be proven delivered.
 */
export function createSyslogSink(o: SyslogSinkOptions): SinkTransport {
  let conn: Conn | null = null;
  const host = hostname().replace(/[^\x21-\x7e]/g, '') || '-';
  const retire = (c: Conn) => {
    if (conn === c) conn = null;
    c.socket.destroy();
  };
  const open = async (): Promise<Conn> => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = o.tls
        ? tlsConnect({
            host: o.host,
            port: o.port,
            // SNI names a host, never an address (RFC 6066); the certificate is checked against either.
            ...(isIP(o.host) ? {} : { servername: o.host }),
            ...(o.ca ? { ca: o.ca } : {}),
          })
        : tcpConnect({ host: o.host, port: o.port });
      const timer = setTimeout(
        () => s.destroy(new Error(`syslog connect timed out after ${o.timeoutMs} ms`)),
        o.timeoutMs,
      );
      s.once(o.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const c: Conn = { socket, relp: null };
    // The receiver closing its side (a stop, a restart) retires the connection before the next batch.
    socket.once('end', () => retire(c));
    socket.once('close', () => retire(c));
    if (o.relp) {
      try {
        c.relp = await openRelp(socket, o.timeoutMs);
      } catch (err) {
        retire(c);
        throw err;
      }
    }
    return c;
  };
  const message = (r: SinkRecord) => {
    const e = JSON.parse(r.eventText) as { time: string; effect?: string };
    const severity = e.effect === 'deny' ? 4 : 6;
    return `<${o.facility * 8 + severity}>1 ${e.time} ${host} ${o.appName} - audit [mandate@32473 seq="${r.seq}" hash="${r.hash}"] ${formatRecord(r, 'cef')}`;
  };
  return {
    async deliver(batch) {
      const c = conn ?? (conn = await open());
      try {
        if (c.relp) {
          await c.relp.send(batch.map(message));
          return;
        }
        const data = batch.map((r) => {
          const msg = message(r);
          return `${Buffer.byteLength(msg)} ${msg}`;
        });
        // EVIDENCE: the write had no bound; a receiver that stopped reading (SIGSTOP) filled the
        // socket buffers and the next write waited for ever, no error, the sink stuck (a probe,
        // timeoutMs 1000). The batch fails unless the kernel took all of it within timeoutMs; the
        // connection is dropped (retire, below) and the runner offers the batch again.
        const text = data.join('');
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(
                new Error(
                  `syslog receiver did not take the batch (${Buffer.byteLength(text)} bytes) within ${o.timeoutMs} ms: not reading?`,
                ),
              ),
            o.timeoutMs,
          );
          c.socket.write(text, (err) => {
            clearTimeout(timer);
            if (err) reject(err);
            else resolve();
          });
        });
        // No acknowledgement exists: give a receiver that is going away time to reset the connection,
        // which fails the batch (sent again) instead of losing what it had not read.
        await new Promise<void>((r) => setTimeout(r, SETTLE_MS));
        if (conn !== c || c.socket.destroyed) throw new Error('the receiver closed the connection');
      } catch (err) {
        retire(c);
        throw err;
      }
    },
    async close() {
      const c = conn;
      conn = null;
      if (!c) return;
      await c.relp?.close();
      // Bounded too: a receiver that stopped reading never lets buffered data finish.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          c.socket.destroy();
          resolve();
        }, o.timeoutMs);
        c.socket.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
