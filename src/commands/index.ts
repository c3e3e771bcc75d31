/**
 * The network-free layer of the command framework: splitting, prefixes, typed argument
 * declarations and parsers, and the command error hierarchy.
 *
 * @module
 */
export * from "./errors.js";
export * from "./split.js";
export * from "./matrix.js";
export * from "./parsers.js";
export {
  compileSignature,
  validateSpecs,
  type ArgumentDefault,
  type ArgumentMode,
  type ArgumentSpec,
  type BuiltinTypes,
  type SignatureArgs,
  type TypesWith,
  type ValidateSignature,
} from "./signature.js";
export * from "./arguments.js";
export * from "./parse.js";
export * from "./prefix.js";
