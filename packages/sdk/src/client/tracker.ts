/** Background tasks of one client and its `withApiKey` siblings, awaited on close. */
export interface Tracker {
  track(task: Promise<unknown>): void;
  drain(): Promise<void>;
}

export function createTracker(onClose: () => Promise<void> = async () => {}): Tracker {
  const tasks = new Set<Promise<unknown>>();
  let closed: Promise<void> | null = null;
  return {
    track(task) {
      // The task handles its own errors; this only keeps it alive until close.
      const settled = task.then(
        () => undefined,
        () => undefined,
      );
      tasks.add(settled);
      void settled.then(() => tasks.delete(settled));
    },
    drain() {
      closed ??= (async () => {
        while (tasks.size > 0) await Promise.all([...tasks]);
        await onClose();
      })();
      return closed;
    },
  };
}
