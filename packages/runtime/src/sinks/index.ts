import { readFileSync } from 'node:fs';
import type { SinkConfig } from '../config/sinks-schema.js';
import type { Logger } from '../kernel/index.js';
import { createFileSink } from './file.js';
import { createHecSink, createOtlpSink, createWebhookSink } from './http.js';
import { createNatsSink } from './nats.js';
import type { SinkTransport } from './port.js';
import { createSyslogSink } from './syslog.js';
import type { SinkDefinition } from './runner.js';

export { createSinkRunner } from './runner.js';
export type { SinkDefinition, SinkRunner, SinkRunnerOptions, SinkStatus } from './runner.js';
export type { DeliveryReport, OmittedRecord, SinkRecord, SinkTransport } from './port.js';

/** The transport of one configured sink. */
export function createSinkTransport(s: SinkConfig, logger?: Logger): SinkTransport {
  switch (s.type) {
    case 'file':
      return createFileSink({
        path: s.path,
        maxBytes: s.maxBytes,
        maxFiles: s.maxFiles,
        ...(logger ? { logger } : {}),
      });
    case 'webhook':
      return createWebhookSink({
        name: s.name,
        url: s.url,
        headers: s.headers,
        timeoutMs: s.timeoutMs,
        maxRequestBytes: s.maxRequestBytes,
        ...(s.secret ? { secret: s.secret } : {}),
      });
    case 'splunk-hec':
      return createHecSink({
        url: s.url,
        token: s.token,
        sourcetype: s.sourcetype,
        timeoutMs: s.timeoutMs,
        maxRequestBytes: s.maxRequestBytes,
        ...(s.index ? { index: s.index } : {}),
      });
    case 'syslog':
      return createSyslogSink({
        host: s.host,
        port: s.port,
        tls: s.tls,
        relp: s.relp,
        facility: s.facility,
        appName: s.appName,
        timeoutMs: s.timeoutMs,
        ...(s.caFile ? { ca: readFileSync(s.caFile, 'utf8') } : {}),
      });
    case 'otlp':
      return createOtlpSink({
        url: s.url,
        headers: s.headers,
        serviceName: s.serviceName,
        timeoutMs: s.timeoutMs,
        maxRequestBytes: s.maxRequestBytes,
      });
    case 'nats':
      return createNatsSink({
        servers: s.servers,
        subject: s.subject,
        stream: s.stream,
        timeoutMs: s.timeoutMs,
      });
  }
}

export function sinkDefinitions(sinks: readonly SinkConfig[], logger?: Logger): SinkDefinition[] {
  return sinks.map((s) => ({
    name: s.name,
    type: s.type,
    batchSize: s.batchSize,
    transport: createSinkTransport(s, logger),
  }));
}
