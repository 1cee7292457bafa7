/**
 * A fetch for the MCP SDK's Streamable HTTP client transport that does not leak abort listeners.
 *
 * The SDK passes one long-lived `AbortSignal` (the transport's) to every request; undici adds a
 * listener to it per request and keeps it while the response body is open — and the SDK stops
 * reading an SSE response once it has its answer, so the listener stays. A session that makes many
 * calls piles them up (MaxListenersExceededWarning after 1,500 calls; each add gets slower). Here
 * each request gets a dependent signal (`AbortSignal.any`), which follows the transport's signal
 * without adding a listener to it, and is collected with the request.
 */
export function scopedFetch(base: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const parent = init?.signal;
    if (!parent) return base(input, init);
    return base(input, { ...init, signal: AbortSignal.any([parent]) });
  };
}
