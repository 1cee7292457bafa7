/**
 * Runs tasks one at a time per key, in the order they were handed in (a failed task does not stop
 * the ones queued behind it). Different keys run concurrently; an idle key holds no memory.
 */
export interface KeyedSerial {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
}

export function createKeyedSerial(): KeyedSerial {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, task) {
      const mine = (tails.get(key) ?? Promise.resolve()).catch(() => undefined).then(task);
      tails.set(key, mine);
      mine
        .finally(() => {
          if (tails.get(key) === mine) tails.delete(key);
        })
        .catch(() => undefined); // the caller gets the outcome through `mine`
      return mine;
    },
  };
}
