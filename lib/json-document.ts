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

  /** `mode`: the file's permissions, e.g. 0o600 for a document holding secrets; the umask's otherwise. */
  constructor(
    readonly path: string,
    private readonly mode?: number,
  ) {}

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
      const file = await open(temporary, 'w', this.mode);
      try {
        // open's mode applies only to a file it creates; a temporary left by a crash keeps its own.
        if (this.mode !== undefined) await file.chmod(this.mode);
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
