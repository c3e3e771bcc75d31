import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { readFileSync } from "node:fs";
import { URL } from "node:url";

/** The layers of `src/`, lowest first (README, "Layout"): each may import only the ones before it. */
const { layers } = JSON.parse(readFileSync(new URL("./scripts/layers.json", import.meta.url), "utf8"));

/**
 * The layer rule, per layer and folder depth: a relative import that climbs out of the layer into
 * a later one (or into `src/index.ts`) is an error, whatever its form (`import`, `import type`,
 * `export … from`, `import("…")`, a module augmentation). test/unit/layers.test.ts proves it; the
 * cycle check (`scripts/check-cycles.ts`) catches cycles inside a layer.
 */
const layerRules = layers.flatMap((layer, i) => {
  const later = layers.slice(i + 1);
  const message = `src/${layer}/ must not import a later layer. Lowest first: ${layers.join(" < ")} (README, "Layout"). Move a shared type down (e.g. src/core/) or declare a host interface.`;
  // Depth 1 is src/<layer>/x.ts: `../` leaves the layer; depth 2 (src/<layer>/sub/x.ts) needs `../../`.
  return [1, 2, 3, 4].map((depth) => {
    const up = `(\\.\\./){${depth}}`;
    const upward = `^${up}(${[...later, "index\\.js$"].join("|")})(/|$)`;
    // The forms no-restricted-imports does not see: `import("…")`, `import("…").T` in a type, and
    // `declare module "…"` (an augmentation depends on the module it widens).
    const selector = (node, path) => `${node}[${path}=/${upward.replaceAll("/", "\\/")}/]`;
    return {
      files: [`src/${layer}/${"*/".repeat(depth - 1)}*.ts`],
      rules: {
        "no-restricted-imports": ["error", {
          patterns: [
            ...(later.length === 0 ? [] : [{ regex: `^${up}(${later.join("|")})(/|$)`, message }]),
            { regex: `^${up}index\\.js$`, message: "Only the package entry imports src/index.ts: import from the module itself." },
          ],
        }],
        "no-restricted-syntax": ["error",
          { selector: selector("ImportExpression", "source.value"), message },
          { selector: selector("TSImportType", "argument.literal.value"), message },
          { selector: selector("TSModuleDeclaration", "id.value"), message },
        ],
      },
    };
  });
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "docs/api/**", ".niobot/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
    },
  },
  {
    files: ["scripts/**", "examples/**", "bench/**", "test/**", "src/logging/**", "src/cli/**"],
    rules: { "no-console": "off" },
  },
  ...layerRules,
);
