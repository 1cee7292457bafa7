import { createServer } from 'node:http';

/**
 * An OTLP/HTTP receiver on 127.0.0.1 for the telemetry tests: the spans of every trace export and
 * each export's body as sent; a metrics export is handed to `onMetrics`. `url` is known once
 * `listen` resolved.
 */
export function otlpReceiver<Span>(onMetrics: (doc: unknown) => void = () => undefined) {
  const spans: Span[] = [];
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/metrics') onMetrics(JSON.parse(body));
      if (req.url === '/v1/traces') {
        bodies.push(body);
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const receiver = {
    spans,
    bodies,
    url: '',
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      receiver.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      return receiver.url;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  return receiver;
}
