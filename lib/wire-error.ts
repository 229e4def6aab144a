// What an AWS-style error answer says, for the agent's clients: the wire error name and message
// from the JSON body ({__type, message}) or the x-amzn-ErrorType header. Pure.

export interface WireError {
  /** e.g. ResourceNotFoundException; `HTTP<status>` when the answer names none. */
  name: string;
  message: string;
}

/** Reads an error answer of `status` whose body is `text`; a body that is not JSON (a proxy's page, say) becomes the message. */
export function readWireError(status: number, text: string, typeHeader?: string): WireError {
  let body: { __type?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') body = parsed;
  } catch {
    // Not JSON: the status and the text are all there is.
  }
  const wireType = typeof body.__type === 'string' ? body.__type : typeHeader ?? `HTTP${status}`;
  const message = typeof body.message === 'string' ? body.message : typeof body.Message === 'string' ? body.Message : text;
  // Some services qualify the type ("prefix#Name") or append details after a colon.
  return { name: wireType.replace(/^.*#/, '').replace(/:.*$/, ''), message };
}
