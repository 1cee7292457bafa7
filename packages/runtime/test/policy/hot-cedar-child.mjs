// Evaluates policy texts (JSON array on stdin) with cedar-wasm as a hot node runs it: started with
// --no-liftoff, so the wasm is TurboFan-compiled from the first call (larger frames than the
// baseline tier), and under 1,000 frames of JavaScript stack. Prints one result per text.
import { isAuthorized, policySetTextToParts } from '../../dist/policy/cedar/wasm.js';

let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const out = [];
  for (const text of JSON.parse(input)) {
    const deep = (k) => {
      if (k > 0) return deep(k - 1);
      try {
        if (policySetTextToParts(text).type !== 'success') return 'parse failure';
        const a = isAuthorized({
          principal: { type: 'U', id: 'u' },
          action: { type: 'Action', id: 'x' },
          resource: { type: 'R', id: 'r' },
          context: { a: 1 },
          policies: { staticPolicies: text },
          entities: [],
        });
        return a.type;
      } catch (err) {
        return `threw: ${err.message}`;
      }
    };
    out.push(deep(1000));
  }
  process.stdout.write(JSON.stringify(out));
});
