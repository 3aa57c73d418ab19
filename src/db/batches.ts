// Batched writes (lastUsedAt, usage counters, the job worker's waves of outcomes) go to the
// database in statements of up to ROWS_PER_STATEMENT rows: one round trip each.

/**
 * Rows per statement. With the widest batch row (7 columns) that is 3,500 bound values, far
 * inside SQLite's limit (32,766) and PostgreSQL's (65,535).
 */
export const ROWS_PER_STATEMENT = 500;

/** `rows` in order, cut into pieces of ROWS_PER_STATEMENT: one statement's worth each. */
export function inStatements<T>(rows: readonly T[]): T[][] {
  const pieces: T[][] = [];
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) pieces.push(rows.slice(start, start + ROWS_PER_STATEMENT));
  return pieces;
}

/**
 * Writes `rows` in statements of ROWS_PER_STATEMENT, in order. If one fails, the rows it and
 * the later statements held go to `unwritten` (to be kept for the next flush) and the error
 * is thrown; the statements before it stay written.
 */
export async function writeInStatements<T>(rows: T[], write: (chunk: T[]) => Promise<void>, unwritten: (rows: T[]) => void): Promise<void> {
  let written = 0;
  for (const piece of inStatements(rows)) {
    try {
      await write(piece);
    } catch (error) {
      unwritten(rows.slice(written));
      throw error;
    }
    written += piece.length;
  }
}
