/**
 * Which standard streams an exec or attach carries, from its query: clients send `stdin=true` to the API server,
 * which sends the kubelet upstream's `input=1` / `output=1` / `error=1` (both spellings are read everywhere).
 */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

const truthy = (v: string | null) => v === 'true' || v === '1';

export function streamOptions(query: URLSearchParams): StreamOptions {
  return {
    stdin: truthy(query.get('stdin')) || truthy(query.get('input')),
    stdout: truthy(query.get('stdout')) || truthy(query.get('output')),
    stderr: truthy(query.get('stderr')) || truthy(query.get('error')),
    tty: truthy(query.get('tty')),
  };
}

/** The kubelet's refusal when no stream is asked for (remotecommand.NewOptions). */
export const NO_STREAMS_MESSAGE = 'you must specify at least 1 of stdin, stdout, stderr';
