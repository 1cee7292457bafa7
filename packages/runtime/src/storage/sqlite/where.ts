/** Collects AND-ed conditions with their positional parameters. */
export function whereBuilder() {
  const clauses: string[] = [];
  const params: unknown[] = [];
  return {
    params,
    add(clause: string, ...values: unknown[]) {
      clauses.push(clause);
      params.push(...values);
    },
    sql: () => (clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''),
  };
}
