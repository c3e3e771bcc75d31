/**
 * `niobot resolve`: what homeserver discovery finds for a server name, and
 * whether that server answers.
 */
import { parseArgs } from "node:util";
import { discoverHomeserver, DiscoveryError } from "../api/discovery.js";
import { CliError, describeApiError, discoveryMessage, table, usageError } from "./common.js";

/** Help of `niobot resolve`. */
export const resolveHelp = `Usage: niobot resolve <server-name|url> [options]

Finds the homeserver of a server name the way a Matrix client does
(/.well-known/matrix/client, else the name itself) and checks that it answers
the client-server API. Exits with 1 when it does not.

Options:
  --http      use http:// rather than https:// for a bare server name (local servers)
  --json      print JSON
  -h, --help  show this help

Examples:
  niobot resolve matrix.org
  niobot resolve http://127.0.0.1:8008`;

/** Runs `niobot resolve`. */
export async function resolve(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { http: { type: "boolean", default: false }, json: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw usageError("resolve needs exactly one <server-name> (e.g. niobot resolve matrix.org)");
  const name = positionals[0] ?? "";
  const started = performance.now();
  let found;
  try {
    found = await discoverHomeserver(name, { scheme: values.http ? "http" : "https" });
  } catch (error) {
    if (error instanceof DiscoveryError) throw new CliError(`cannot resolve "${name}": ${discoveryMessage(error)}`);
    throw describeApiError(error, `cannot resolve "${name}"`, name);
  }
  const ms = Math.round(performance.now() - started);
  if (values.json) {
    console.log(JSON.stringify({ input: name, ...found, reachable: true, ms }));
    return 0;
  }
  const latest = found.versions.filter((v) => /^v\d+\.\d+$/.test(v)).at(-1);
  console.log(
    table([
      ["server", name],
      ["homeserver", found.baseUrl],
      ["found via", found.fromWellKnown ? ".well-known/matrix/client" : "the name itself (no .well-known delegation)"],
      ["spec versions", `${found.versions.join(", ")}${latest ? ` (latest ${latest})` : ""}`],
      ["reachable", `yes (discovery took ${ms} ms)`],
    ]),
  );
  return 0;
}
