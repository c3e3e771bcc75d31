#!/usr/bin/env node
/**
 * `niobot`: the command-line tool. Logs bots in, checks sessions and
 * servers, scaffolds projects and runs a local homeserver for development.
 *
 * Exit codes: 0 ok, 1 the command failed, 2 it was called wrongly.
 *
 * @example
 * npx niobot init my-bot && cd my-bot && npm install
 * npx niobot login
 * npm start
 */
import { CliError, EXIT_FAILURE, EXIT_USAGE, ownPackage } from "./common.js";
import { Prompter } from "./prompt.js";

/** A subcommand: what it does, and (loaded on use, to keep start-up quick) its help and code. */
interface Subcommand {
  summary: string;
  load: () => Promise<{ help: string; run: (argv: string[], prompter: Prompter) => Promise<number> }>;
}

const commands: Record<string, Subcommand> = {
  login: {
    summary: "log in with a password and save the session to .env",
    load: async () => import("./login.js").then((m) => ({ help: m.loginHelp, run: m.login })),
  },
  whoami: {
    summary: "check the saved session: which user and device",
    load: async () => import("./whoami.js").then((m) => ({ help: m.whoamiHelp, run: m.whoami })),
  },
  resolve: {
    summary: "find and check the homeserver of a server name",
    load: async () => import("./resolve.js").then((m) => ({ help: m.resolveHelp, run: m.resolve })),
  },
  init: {
    summary: "create a bot project",
    load: async () => import("./init.js").then((m) => ({ help: m.initHelp, run: m.init })),
  },
  "dev-server": {
    summary: "run a local Synapse for development (start|stop|status|register)",
    load: async () => import("./dev-server.js").then((m) => ({ help: m.devServerHelp, run: m.devServer })),
  },
  appservice: {
    summary: "write an application service registration (registration)",
    load: async () => import("./appservice.js").then((m) => ({ help: m.appserviceHelp, run: m.appservice })),
  },
  crypto: {
    summary: "cross-signing identity, secret storage and key backup (status|recovery-key|reset-identity)",
    load: async () => import("./crypto.js").then((m) => ({ help: m.cryptoHelp, run: m.crypto })),
  },
  store: {
    summary: "move a bot's SQLite store (crypto included) into PostgreSQL (migrate)",
    load: async () => import("./store.js").then((m) => ({ help: m.storeHelp, run: m.store })),
  },
  version: {
    summary: "print versions and whether E2EE and SQLite are available",
    load: async () => import("./version.js").then((m) => ({ help: m.versionHelp, run: m.version })),
  },
};

function generalHelp(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const list = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    `niobot ${ownPackage().version}: tools for Matrix bots built with niobot`,
    "",
    "Usage: niobot <command> [options]",
    "",
    "Commands:",
    ...list,
    "",
    "Run `niobot <command> --help` for a command's options.",
    "",
    "Getting started:",
    "  npx niobot init my-bot && cd my-bot && npm install",
    "  (from a clone of niobot, not yet on npm: add --niobot file:/path/to/niobot to init)",
    "  npx niobot login",
    "  npm start",
  ].join("\n");
}

/** Whether `-h`/`--help` appears before a `--` that ends the options. */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "-h" || a === "--help");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(generalHelp());
    return EXIT_USAGE;
  }
  if (name === "-h" || name === "--help") {
    console.log(generalHelp());
    return 0;
  }
  if (name === "-v" || name === "--version") {
    console.log(ownPackage().version);
    return 0;
  }
  if (name === "help") {
    const topic = rest[0];
    const command = topic !== undefined && Object.hasOwn(commands, topic) ? commands[topic] : undefined;
    if (topic !== undefined && command === undefined) throw new CliError(`unknown command "${topic}"`, EXIT_USAGE);
    console.log(command ? (await command.load()).help : generalHelp());
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (entry === undefined) throw new CliError(`unknown command "${name}"; run \`niobot --help\` for the list`, EXIT_USAGE);
  const command = await entry.load();
  if (wantsHelp(rest)) {
    console.log(command.help);
    return 0;
  }
  const prompter = new Prompter();
  try {
    return await command.run(rest, prompter);
  } catch (error) {
    // node:util parseArgs: unknown option, missing value, unexpected argument.
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
      throw new CliError(`${(error as Error).message}\nRun \`niobot ${name} --help\` for the options.`, EXIT_USAGE);
    throw error;
  } finally {
    prompter.close();
  }
}

let exitCode: number;
try {
  exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CliError) {
    console.error(`niobot: ${error.message}`);
    exitCode = error.exitCode;
  } else {
    // A bug rather than a condition we know: keep the stack for the report.
    console.error("niobot: unexpected error:", error);
    exitCode = EXIT_FAILURE;
  }
}
// Exit now rather than wait for idle keep-alive sockets; writes to pipes and
// files are synchronous on POSIX, so no output is lost.
process.exit(exitCode);
