/**
 * `niobot init <dir>`: scaffolds a bot project that type-checks and runs
 * with `npm install && npx niobot login && npm start`.
 */
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, ownPackage, usageError } from "./common.js";
import { niobotSourceSpec } from "./source.js";
import { botTestTs, botTs, envExample, gitignore, mainTs, packageJson, readme, tsconfigJson } from "./templates.js";

/** Help of `niobot init`. */
export const initHelp = `Usage: niobot init <dir> [options]

Creates a bot project in <dir> (which must be empty or absent): package.json,
tsconfig.json, bot.ts with a "ping" command, main.ts that runs it, bot.test.ts
(npm test, with niobot/testing), .gitignore, .env.example and a README.
Then: cd <dir> && npm install && npx niobot login && npm start

Options:
  --niobot <spec>  version spec of the niobot dependency (default: where this
                   niobot came from: ^<version> from the registry, its git URL
                   or tarball, or file:<checkout> when run from a clone)
  --name <name>    package name (default: the directory's name)
  -h, --help       show this help`;

/** Entries that do not make a directory "non-empty" for scaffolding. */
const IGNORABLE = new Set([".git"]);

/** A valid npm package name made from a directory name. */
export function packageNameFor(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+|-+$/g, "");
  return name === "" ? "my-bot" : name.slice(0, 214);
}

async function checkTarget(dir: string): Promise<void> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (info === undefined) return;
  if (!info.isDirectory()) throw new CliError(`${dir} exists and is not a directory`);
  const entries = (await readdir(dir)).filter((e) => !IGNORABLE.has(e));
  if (entries.length > 0)
    throw new CliError(`${dir} is not empty (${entries.slice(0, 3).join(", ")}${entries.length > 3 ? ", ..." : ""}): refusing to overwrite; pick a new directory`);
}

/** Runs `niobot init`. */
export async function init(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { niobot: { type: "string" }, name: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw usageError("init needs exactly one <dir> (e.g. niobot init my-bot)");
  const dir = positionals[0] ?? "";
  await checkTarget(dir);

  const own = ownPackage();
  const tool = (name: string, fallback: string): string => own.devDependencies[name] ?? own.dependencies[name] ?? fallback;
  const name = values.name ?? packageNameFor(dir);
  const envFile = ".env";
  const files: Record<string, string> = {
    "package.json": packageJson({
      name,
      niobotSpec: values.niobot ?? niobotSourceSpec(own.version),
      tsx: tool("tsx", "^4.20.0"),
      typescript: tool("typescript", "^5.9.0"),
      typesNode: tool("@types/node", "^20.19.0"),
    }),
    "tsconfig.json": tsconfigJson(),
    "bot.ts": botTs(),
    "main.ts": mainTs(),
    "bot.test.ts": botTestTs(),
    ".gitignore": gitignore(envFile),
    ".env.example": envExample(),
    "README.md": readme(name, envFile),
  };
  await mkdir(dir, { recursive: true });
  // "wx": if something appeared since the check, fail rather than overwrite it.
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content, { flag: "wx" });

  console.log(`Created ${name} in ${dir}: ${Object.keys(files).join(", ")}`);
  console.log("");
  console.log("Next:");
  console.log(`  cd ${/[^\w./-]/.test(dir) ? JSON.stringify(dir) : dir}`);
  console.log("  npm install");
  console.log("  npx niobot login   # saves the session in .env");
  console.log("  npm start          # then say !ping to the bot in a room");
  return 0;
}
