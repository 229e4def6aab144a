// The live connections each device holds (MQTT clients, signaling WebSockets), so that revoking
// a device can end them at once instead of when they next send something.

/** Closers of live connections by device name. */
export class DeviceConnections {
  readonly #byDevice = new Map<string, Set<() => void>>();

  /** `isActive` says whether a device key still resolves (not revoked, not replaced). */
  constructor(private readonly isActive: (accessKeyId: string) => boolean) {}

  /**
   * Remembers a connection made with a device's key; call the returned function when it ends.
   * A key revoked while the connection was being set up closes it right here.
   */
  add(device: { name: string; accessKeyId: string }, close: () => void): () => void {
    const closers = this.#byDevice.get(device.name) ?? new Set();
    this.#byDevice.set(device.name, closers);
    closers.add(close);
    const forget = () => {
      closers.delete(close);
      if (closers.size === 0 && this.#byDevice.get(device.name) === closers) this.#byDevice.delete(device.name);
    };
    if (!this.isActive(device.accessKeyId)) {
      forget();
      close();
    }
    return forget;
  }

  /** Ends every live connection of `device`. */
  closeAll(device: string): void {
    const closers = this.#byDevice.get(device);
    this.#byDevice.delete(device);
    for (const close of closers ?? []) close();
  }
}
