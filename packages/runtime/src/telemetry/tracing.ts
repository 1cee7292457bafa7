import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  metrics,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Exception,
  type Span,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import type { TelemetryConfig } from '../config/telemetry-schema.js';
import { isMandateError, recordedReason, type Logger } from '../kernel/index.js';
import { redactText } from '../audit/redact.js';

/**
 * Tracing through `@opentelemetry/api` only: until `startTracing` registers an SDK (the config
 * names an OTLP collector) every span is the API's no-op, so an unconfigured node does no tracing
 * work beyond a function call. The SDK and exporter are imported only when configured.
 */
const tracer = () => trace.getTracer('mandate');

/** The API's own no-op provider: what the global provider delegates to until an SDK is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
/** The span every no-op tracer hands out (records nothing; shared, it has no state). */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * True while no tracer provider is registered (by `startTracing` or by the embedding process):
 * every span would be the API's no-op, so the decision path skips making them — a span, a
 * context and a tracer object per call, several times per decision. Checked on every call, so a
 * provider registered later is used from then on.
 */
function tracingOff(): boolean {
  const p = trace.getTracerProvider();
  return p instanceof ProxyTracerProvider && p.getDelegate() === NOOP_TRACER_PROVIDER;
}

/** Runs `fn` in a child span of the active context; the span records an exception and ends either way. */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  if (tracingOff()) return fn(NOOP_SPAN);
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      const { exception, message } = spanError(err);
      span.recordException(exception);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * What a span says of an error: for a `MandateError` its code and the reason the audit trail
 * records (`recorded` / `recordedReason`: no value, no key name taken from the request, where the
 * refusal says so), with every secret-shaped span replaced; for any other error its name only.
 * Never the caller-facing message nor a stack trace. SECURITY: a probe found spans exporting
 * `exception.message`, `exception.stacktrace` and `status.message` with the message the caller got
 * (`args.headers.x-session-…-sk_live_…: must be string`), which the chain deliberately does not
 * record, to a collector outside the trail's care; internals belong in the node's logs.
 */
export function spanError(err: unknown): { exception: Exception; message: string } {
  if (isMandateError(err)) {
    const reason = redactText(err.recorded ?? recordedReason(err));
    return { exception: { code: err.code, message: reason }, message: `${err.code}: ${reason}` };
  }
  const name =
    err instanceof Error && typeof err.name === 'string' && /^[A-Za-z][A-Za-z0-9_.$]{0,99}$/.test(err.name)
      ? err.name
      : 'Error';
  return { exception: { name }, message: name };
}

/** A child span of the active context for synchronous work; the caller ends it. */
export function startSpan(name: string, attributes: Attributes): Span {
  if (tracingOff()) return NOOP_SPAN;
  return tracer().startSpan(name, { attributes });
}

/**
 * Decision metrics through `@opentelemetry/api` (no-ops unless the SDK is registered): a counter
 * by effect and a latency histogram, the same figures `/metrics` serves to Prometheus.
 */
let instruments: {
  decisions: ReturnType<ReturnType<typeof metrics.getMeter>['createCounter']>;
  duration: ReturnType<ReturnType<typeof metrics.getMeter>['createHistogram']>;
} | null = null;
export function recordDecisionMetric(effect: string, latencyMs: number): void {
  if (!instruments) {
    const meter = metrics.getMeter('mandate');
    instruments = {
      decisions: meter.createCounter('mandate.decisions', { description: 'Decisions answered, by effect.' }),
      duration: meter.createHistogram('mandate.decision.duration', {
        description: 'Time from request to committed audit record.',
        unit: 'ms',
      }),
    };
  }
  instruments.decisions.add(1, { effect });
  instruments.duration.record(latencyMs, { effect });
}

/** The caller's W3C trace context (`traceparent`, `tracestate`) from request headers. */
export function contextFromHeaders(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Runs `fn` with `ctx` active (the span of the caller's trace becomes the parent of ours). */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** `traceparent` / `tracestate` of the active span, for a request Mandate makes (an upstream MCP server). */
export function traceHeaders(): Record<string, string> {
  const out: Record<string, string> = {};
  propagation.inject(context.active(), out);
  return out;
}

/**
 * Registers the OpenTelemetry SDK when the config names an OTLP collector: W3C trace context,
 * async context propagation, a parent-based ratio sampler and batched OTLP/HTTP export.
 * Returns the shutdown (flushes what is batched).
 */
export async function startTracing(cfg: TelemetryConfig, logger: Logger): Promise<() => Promise<void>> {
  const o = cfg.otlp;
  if (!o) return async () => {};
  const [sdkTrace, { OTLPTraceExporter }, core, hooks, res, sdkMetrics, { OTLPMetricExporter }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/core'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
  const base = o.url.replace(/\/$/, '');
  const resource = res.resourceFromAttributes({ 'service.name': o.serviceName });
  const provider = new sdkTrace.TracerProvider({
    resource,
    sampler: new sdkTrace.ParentBasedSampler({ root: new sdkTrace.TraceIdRatioBasedSampler(o.sampleRatio) }),
    spanProcessors: [
      new sdkTrace.BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${base}/v1/traces`, headers: o.headers }),
        scheduledDelayMillis: o.exportIntervalMs,
      }),
    ],
  });
  // Metrics over OTLP too (the same figures as /metrics), exported at the same cadence.
  const meterProvider = new sdkMetrics.MeterProvider({
    resource,
    readers: [
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics`, headers: o.headers }),
        exportIntervalMillis: o.exportIntervalMs,
        exportTimeoutMillis: o.exportIntervalMs,
      }),
    ],
  });
  const manager = new hooks.AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  metrics.setGlobalMeterProvider(meterProvider);
  instruments = null;
  logger.info('OpenTelemetry on', { collector: o.url, sampleRatio: o.sampleRatio });
  return async () => {
    await provider
      .shutdown()
      .catch((err: Error) => logger.warn('trace export at shutdown failed', { error: err.message }));
    await meterProvider
      .shutdown()
      .catch((err: Error) => logger.warn('metric export at shutdown failed', { error: err.message }));
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
    instruments = null;
  };
}
