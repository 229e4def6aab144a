// Its own module so the CLI can recognise it without loading the server (the agent shares the CLI).

/** Thrown for options that make no sense together; the message says which and why. */
export class ServerOptionsError extends Error {}
