import type { PersonalDataRecord, Store } from '../port.js';

type PersonalMethods = Pick<Store, 'putPersonalData' | 'getPersonalData' | 'erasePersonalData'>;

/** The memory driver's erasable personal data; `open` throws once the store is closed. */
export function createMemoryPersonal(open: () => void): PersonalMethods {
  const rows = new Map<string, PersonalDataRecord>();
  return {
    async putPersonalData(r) {
      open();
      rows.set(r.ref, structuredClone(r));
    },
    async getPersonalData(refs) {
      open();
      return [...new Set(refs)]
        .sort()
        .flatMap((ref) => (rows.has(ref) ? [structuredClone(rows.get(ref)!)] : []));
    },
    async erasePersonalData(subject) {
      open();
      let n = 0;
      for (const [ref, r] of rows)
        if (r.subject === subject) {
          rows.delete(ref);
          n++;
        }
      return n;
    },
  };
}
