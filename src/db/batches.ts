// Batched background writes (lastUsedAt, usage counters) go to the database in statements of
// up to ROWS_PER_STATEMENT rows: one commit on SQLite, one round trip on PostgreSQL, each.

/**
 * Rows per statement. With the widest batch row (7 columns) that is 3,500 bound values, far
 * inside SQLite's limit (32,766) and PostgreSQL's (65,535).
 */
export const ROWS_PER_STATEMENT = 500;

/**
 * Writes `rows` in statements of ROWS_PER_STATEMENT, in order. If one fails, the rows it and
 * the later statements held go to `unwritten` (to be kept for the next flush) and the error
 * is thrown; the statements before it stay written.
 */
export async function writeInStatements<T>(rows: T[], write: (chunk: T[]) => Promise<void>, unwritten: (rows: T[]) => void): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    try {
      await write(rows.slice(start, start + ROWS_PER_STATEMENT));
    } catch (error) {
      unwritten(rows.slice(start));
      throw error;
    }
  }
}
