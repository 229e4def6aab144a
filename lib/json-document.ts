import { open, readFile, rename } from 'node:fs/promises';

/**
 * A small JSON document in one file, replaced whole on every save: written to a temporary
 * file, fsynced, then renamed over the old one, so a crash leaves the previous document or the
 * new one, never half of one, and a save that resolved survives a power cut.
 */
export class JsonDocument<T> {
  // Saves are chained so an older document never lands after a newer one; a failed save does
  // not stop the next.
  #saving: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** The document, or undefined when the file does not exist yet. */
  async read(): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return JSON.parse(text) as T;
  }

  /** Replaces the document; resolves once it is durable. */
  save(value: T): Promise<void> {
    const text = JSON.stringify(value);
    const saved = this.#saving.catch(() => {}).then(async () => {
      const temporary = `${this.path}.tmp`;
      const file = await open(temporary, 'w');
      try {
        await file.writeFile(text);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, this.path);
    });
    this.#saving = saved;
    return saved;
  }

  /** Resolves once every save so far has finished (or failed). */
  flush(): Promise<void> {
    return this.#saving.catch(() => {});
  }
}
