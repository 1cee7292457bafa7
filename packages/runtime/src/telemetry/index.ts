export {
  contextFromHeaders,
  inSpan,
  recordDecisionMetric,
  startSpan,
  startTracing,
  traceHeaders,
  withContext,
} from './tracing.js';
