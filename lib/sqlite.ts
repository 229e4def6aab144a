import sqlite3 from 'sqlite3';

/** A promise-returning view of one sqlite3 connection. */
export class Database {
  private constructor(private readonly db: sqlite3.Database) {}

  static open(path: string, mode = sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE): Promise<Database> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, mode, (error) => (error ? reject(error) : resolve(new Database(db))));
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (error) => (error ? reject(error) : resolve())));
  }

  run(sql: string, params: unknown[] = []): Promise<{ lastID: number; changes: number }> {
    return new Promise((resolve, reject) =>
      this.db.run(sql, params, function (this: sqlite3.RunResult, error: Error | null) {
        if (error) reject(error);
        else resolve({ lastID: this.lastID, changes: this.changes });
      }),
    );
  }

  all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as T[]))));
  }

  async get<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get(sql, params, (error, row) => (error ? reject(error) : resolve(row as T | undefined))));
  }

  prepare(sql: string): PreparedStatement {
    return new PreparedStatement(this.db.prepare(sql));
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
  }
}

/** A compiled statement, reused across calls to skip re-parsing on hot paths. */
export class PreparedStatement {
  constructor(private readonly statement: sqlite3.Statement) {}

  run(params: unknown[]): Promise<void> {
    return new Promise((resolve, reject) => this.statement.run(params, (error: Error | null) => (error ? reject(error) : resolve())));
  }

  all<T>(params: unknown[]): Promise<T[]> {
    return new Promise((resolve, reject) => this.statement.all(params, (error: Error | null, rows: unknown[]) => (error ? reject(error) : resolve(rows as T[]))));
  }

  finalize(): Promise<void> {
    return new Promise((resolve) => this.statement.finalize(() => resolve()));
  }
}
