/**
 * `niobot appservice registration`: writes an application service
 * registration with fresh tokens and tells the operator how the homeserver
 * loads it.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { generateRegistration, registrationToYaml } from "../appservice/registration.js";
import { CliError, usageError } from "./common.js";

/** Help of `niobot appservice`. */
export const appserviceHelp = `Usage: niobot appservice registration --url <url> --server-name <name> [options]

Writes an application service registration (YAML) with fresh random tokens,
and prints the lines to add to Synapse's homeserver.yaml. The file holds
secrets: it is written mode 0600 and never printed.

Options:
  --url <url>              where the homeserver reaches the appservice (e.g. http://127.0.0.1:9000)
  --server-name <name>     the homeserver's server name (the part after ':' in user ids)
  --output, -o <file>      where to write it (default: registration.yaml)
  --id <id>                the appservice id (default: niobot)
  --sender <localpart>     the bot's own user (default: niobot)
  --user-prefix <prefix>   localpart prefix of virtual users; repeatable (default: _<id>_)
  --alias-prefix <prefix>  room alias prefix owned by the appservice; repeatable
  --rate-limited           keep the homeserver's rate limits for virtual users (default: exempt)
  --receive-ephemeral      also receive typing, receipts and presence
  --force                  overwrite an existing file

Then start the bot with new NioBot({ homeserver, userId: "@<sender>:<server name>",
appservice: { registration: "<file>" } }), or try it on the dev server:
  niobot dev-server start --appservice <file>`;

/** Runs `niobot appservice ...`. */
export async function appservice(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "registration") throw usageError(sub === undefined ? "appservice needs a command: registration" : `unknown appservice command "${sub}" (expected registration)`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      url: { type: "string" },
      "server-name": { type: "string" },
      output: { type: "string", short: "o" },
      id: { type: "string" },
      sender: { type: "string" },
      "user-prefix": { type: "string", multiple: true },
      "alias-prefix": { type: "string", multiple: true },
      "rate-limited": { type: "boolean" },
      "receive-ephemeral": { type: "boolean" },
      force: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`appservice registration takes no arguments (got "${positionals[0]}")`);
  if (values.url === undefined) throw usageError("--url is required: where the homeserver reaches the appservice");
  if (values["server-name"] === undefined) throw usageError("--server-name is required: the part after ':' in your user ids");
  if (!/^https?:\/\/[^/]/i.test(values.url)) throw usageError(`--url must be an http(s) URL (got "${values.url}")`);
  const output = resolve(values.output ?? "registration.yaml");
  if (existsSync(output) && !values.force) throw new CliError(`${output} exists; pass --force to replace it (its tokens would change)`);
  const registration = generateRegistration({
    url: values.url,
    serverName: values["server-name"],
    id: values.id,
    senderLocalpart: values.sender,
    userPrefixes: values["user-prefix"],
    aliasPrefixes: values["alias-prefix"],
    rateLimited: values["rate-limited"] ?? false,
    receiveEphemeral: values["receive-ephemeral"] ?? false,
  });
  await writeFile(output, registrationToYaml(registration), { mode: 0o600 });
  const sender = `@${registration.sender_localpart}:${values["server-name"]}`;
  console.log(`Wrote ${output} (appservice "${registration.id}", bot user ${sender}).`);
  console.log("");
  console.log("Add it to Synapse's homeserver.yaml (Synapse must be able to read the file), then restart Synapse:");
  console.log("");
  console.log("app_service_config_files:");
  console.log(`  - ${output}`);
  console.log("");
  console.log("Or try it on the local dev server:");
  console.log(`  npx niobot dev-server start --appservice ${output}`);
  return 0;
}
