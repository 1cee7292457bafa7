/** Collects AND-ed conditions, numbering `$n` placeholders as they are added. */
export function whereBuilder() {
  const clauses: string[] = [];
  const params: unknown[] = [];
  return {
    params,
    /** `clause` uses `?` for each value; they are renumbered to `$n`. */
    add(clause: string, ...values: unknown[]) {
      let i = 0;
      clauses.push(
        clause.replace(/\?/g, () => {
          params.push(values[i++]);
          return `$${params.length}`;
        }),
      );
    },
    sql: () => (clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''),
    next: () => `$${params.length + 1}`,
  };
}
