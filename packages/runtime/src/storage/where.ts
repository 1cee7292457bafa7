/**
 * Collects AND-ed SQL conditions with their values: each `?` in a clause takes the next value and
 * is written as the driver's placeholder (`?` for SQLite, `$n` for PostgreSQL).
 */
function whereBuilder(placeholder: (n: number) => string) {
  const clauses: string[] = [];
  const params: unknown[] = [];
  return {
    params,
    add(clause: string, ...values: unknown[]) {
      let i = 0;
      clauses.push(
        clause.replace(/\?/g, () => {
          params.push(values[i++]);
          return placeholder(params.length);
        }),
      );
    },
    sql: () => (clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''),
    /** The placeholder of the next value, one added after the conditions (a limit). */
    next: () => placeholder(params.length + 1),
  };
}

export const sqliteWhere = () => whereBuilder(() => '?');
export const postgresWhere = () => whereBuilder((n) => `$${n}`);
